"""Fetching media by URL for `{"url": ...}` requests, without becoming an SSRF proxy.

The request goes out through the process's `banks.egress.Egress`: the address
a name resolves to is checked on every redirect hop, before connecting to
it, so a URL that leads anywhere internal is refused before any request is
sent there (unless the operator allow-listed that address). The whole
fetch, connecting to the last byte, keeps to one deadline.

A fetch holds a request thread while a remote host takes its time, so a
worker lets only a few run at once (`MediaFetcher`): one more is answered
503 at once, and lookups always find a thread.
"""

from __future__ import annotations

import threading
from typing import Any

from banks.egress import Egress, Response
from core.errors import (
    EgressFailed,
    EgressRefused,
    FetchesBusy,
    MediaTooLarge,
    ResponseTooLarge,
    UrlFetchFailed,
    UrlNotAllowed,
)

USER_AGENT = "hma-fetch"


class MediaFetcher:
    """Media at URLs, at most `concurrency` fetches at a time in this process."""

    def __init__(self, egress: Egress, *, max_bytes: int, timeout: float, concurrency: int) -> None:
        self.egress = egress
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(concurrency)

    def fetch(self, url: Any) -> bytes:
        """The body at `url`, at most `max_bytes` long."""
        return self.fetch_response(url).body

    def fetch_response(self, url: Any, max_bytes: int | None = None) -> Response:
        """The answer at `url` (a 2xx), its body at most `max_bytes` long (default: the
        fetcher's); `FetchesBusy` when this process is already fetching as many URLs
        as it may."""
        if not self._slots.acquire(blocking=False):
            raise FetchesBusy(
                "this server is already fetching as many URLs as it may; retry shortly"
            )
        try:
            return self._get(url, max_bytes or self.max_bytes)
        finally:
            self._slots.release()

    def _get(self, url: Any, max_bytes: int) -> Response:
        if not isinstance(url, str):
            raise UrlNotAllowed("url must be an http:// or https:// address")
        try:
            answer = self.egress.send(
                "GET",
                url,
                headers={"User-Agent": USER_AGENT},
                timeout=self.timeout,
                max_bytes=max_bytes,
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
