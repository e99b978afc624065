"""Fetching media by URL for `{"url": ...}` requests, without becoming an SSRF proxy.

The address check runs on the connected socket, after DNS resolution and on
every redirect hop, so a hostname that resolves (or re-resolves) to an internal
address is refused before any request is sent to it. Environment proxies are
ignored for the same reason.
"""

from __future__ import annotations

import http.client
import ipaddress
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from banks.errors import InvalidInput
from hashers import MediaTooLarge

CHUNK = 64 * 1024


class UrlNotAllowed(InvalidInput):
    code = "url_not_allowed"


class UrlFetchFailed(InvalidInput):
    code = "url_fetch_failed"


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _guard(connection: http.client.HTTPConnection, allow_private: bool) -> None:
    peer = connection.sock.getpeername()[0]
    if not allow_private and not _is_public(peer):
        connection.close()
        raise UrlNotAllowed(f"{connection.host} resolves to a non-public address ({peer})")


def _opener(allow_private: bool) -> urllib.request.OpenerDirector:
    class GuardedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            _guard(self, allow_private)

    class GuardedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            _guard(self, allow_private)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(GuardedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(GuardedHTTPS, req)

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), HTTPHandler(), HTTPSHandler()
    )


def fetch(url: Any, *, max_bytes: int, timeout: float, allow_private: bool) -> bytes:
    """The body at `url`, at most `max_bytes` long."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise UrlNotAllowed("url must be an http:// or https:// address")
    if not urlsplit(url).hostname:
        raise UrlNotAllowed("url has no host")
    request = urllib.request.Request(url, headers={"User-Agent": "hma-fetch"})
    try:
        with _opener(allow_private).open(request, timeout=timeout) as response:
            body = bytearray()
            while chunk := response.read(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise MediaTooLarge(
                        f"the content at the url is over the limit of {max_bytes} bytes",
                        code="file_too_large",
                    )
            return bytes(body)
    except UrlNotAllowed:
        raise
    except urllib.error.HTTPError as exc:
        raise UrlFetchFailed(f"the url answered HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, UrlNotAllowed):
            raise exc.reason from None
        raise UrlFetchFailed(f"could not fetch the url: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise UrlFetchFailed(f"could not fetch the url: {exc}") from exc
