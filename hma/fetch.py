"""Fetching media by URL for `{"url": ...}` requests, without becoming an SSRF proxy.

The request goes out through the process's `banks.egress.Egress`: the address
a name resolves to is checked on every redirect hop, before connecting to
it, so a URL that leads anywhere internal is refused before any request is
sent there (unless the operator allow-listed that address).
"""

from __future__ import annotations

from typing import Any

from banks.egress import Egress, Response
from core.errors import (
    EgressFailed,
    EgressRefused,
    MediaTooLarge,
    ResponseTooLarge,
    UrlFetchFailed,
    UrlNotAllowed,
)

USER_AGENT = "hma-fetch"


def fetch(egress: Egress, url: Any, *, max_bytes: int, timeout: float) -> bytes:
    """The body at `url`, at most `max_bytes` long."""
    return fetch_response(egress, url, max_bytes=max_bytes, timeout=timeout).body


def fetch_response(egress: Egress, url: Any, *, max_bytes: int, timeout: float) -> Response:
    """The answer at `url` (a 2xx), its body at most `max_bytes` long."""
    if not isinstance(url, str):
        raise UrlNotAllowed("url must be an http:// or https:// address")
    try:
        answer = egress.send(
            "GET", url, headers={"User-Agent": USER_AGENT}, timeout=timeout, max_bytes=max_bytes
        )
    except EgressRefused as exc:
        raise UrlNotAllowed(str(exc)) from None
    except ResponseTooLarge:
        raise MediaTooLarge(
            f"the content at the url is over the limit of {max_bytes} bytes",
            code="file_too_large",
        ) from None
    except EgressFailed as exc:
        raise UrlFetchFailed(f"could not fetch the url: {exc}") from None
    if not 200 <= answer.status < 300:
        raise UrlFetchFailed(f"the url answered HTTP {answer.status}")
    return answer
