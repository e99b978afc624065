"""A token in the base URL, for clients that can be given an address but no header.

Tools built on HMA's API (ROOST's Coop, for one) are configured with a base
URL only and send no Authorization header. Such a client may be given
`https://hma.example/t/<token>/` as its base: this middleware takes the
token out of the path before routing and hands it on as a bearer token, so
roles apply exactly as with the header. It also blanks the token in the raw
request line, which the access log writes (`hma.access_log`), so it is never
logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

PREFIX = "/t/"
#: What the access log shows in place of a token.
HIDDEN = "[token]"

_REPEATED_SLASHES = re.compile("/{2,}")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def token_in_path(app: WsgiApp) -> WsgiApp:
    """The middleware; it also merges repeated slashes in the path, which clients
    configured with a base URL ending in `/` send (`/t/<token>//c/banks`)."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = _REPEATED_SLASHES.sub("/", environ.get("PATH_INFO", ""))
        environ["PATH_INFO"] = path
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        token, _, rest = path[len(PREFIX) :].partition("/")
        for key in ("RAW_URI", "REQUEST_URI"):
            if key in environ:
                environ[key] = hide(environ[key])
        if not token:
            return app(environ, start_response)
        if environ.get("HTTP_AUTHORIZATION"):
            return _refuse(start_response)
        environ["PATH_INFO"] = "/" + rest
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return app(environ, start_response)

    return middleware


def hide(uri: str) -> str:
    """`/t/<token>/rest` as `/t/[token]/rest`; other paths unchanged."""
    if not uri.startswith(PREFIX):
        return uri
    _token, slash, rest = uri[len(PREFIX) :].partition("/")
    return f"{PREFIX}{HIDDEN}{slash}{rest}"


def _refuse(start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Two tokens are one too many: which should act is not for the server to guess."""
    body = json.dumps(
        {
            "error": {
                "code": "token_twice",
                "message": "send the token in the path or in the Authorization header, not both",
            }
        }
    ).encode()
    start_response(
        "400 BAD REQUEST",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
