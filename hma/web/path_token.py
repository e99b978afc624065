"""A token in the base URL, for clients that can be given an address but no header.

Tools built on HMA's API (ROOST's Coop, for one) are configured with a base
URL only and send no Authorization header. Such a client may be given
`https://hma.example/t/<token>/` as its base: this middleware takes the
token out of the path before routing and hands it on as a bearer token, so
roles apply exactly as with the header.

The token is taken in exactly one spelling: a request target that begins
with `/t/<token>/` as sent, the token in plain token characters. Any other
way to reach the same path once decoded (`//t/...`, `/%74/...`,
`/t%2F...`, an absolute-form target) is answered 404: a spelling the
middleware did not take would be a token that nothing blanks. What the
access log writes (`hma.access_log`) is built from the rewritten path
(`logged_target`), so the token never reaches it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

PREFIX = "/t/"
#: What the access log shows in place of a token.
HIDDEN = "[token]"
#: The environ key that says the request's token came in its path.
TOOK_TOKEN = "hma.path_token"

_REPEATED_SLASHES = re.compile("/{2,}")
#: `/t/<token>` as sent, the token in the characters tokens are made of.
_TOKEN_TARGET = re.compile(r"/t/([A-Za-z0-9_-]+)(?=/|\?|$)")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def token_in_path(app: WsgiApp) -> WsgiApp:
    """The middleware; it also merges repeated slashes in the path, which clients
    configured with a base URL ending in `/` send (`/t/<token>//c/banks`)."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = _REPEATED_SLASHES.sub("/", environ.get("PATH_INFO", ""))
        environ["PATH_INFO"] = path
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        sent = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
        taken = _TOKEN_TARGET.match(sent)
        token = taken.group(1) if taken else ""
        rest = path.removeprefix(PREFIX + token) if token else path
        if not token or rest == path or rest[:1] not in ("", "/"):
            # Decoded, this path carries a token, but not in the one spelling taken.
            return _refuse(environ, start_response, 404, "not_found", "no such path")
        if environ.get("HTTP_AUTHORIZATION"):
            return _refuse(
                environ,
                start_response,
                400,
                "token_twice",
                "send the token in the path or in the Authorization header, not both",
            )
        environ["PATH_INFO"] = rest or "/"
        environ[TOOK_TOKEN] = True
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        _blank_request_line(environ)
        return app(environ, start_response)

    return middleware


def hide(path: str) -> str:
    """`/t/<token>/rest` as `/t/[token]/rest`; other paths unchanged."""
    if not path.startswith(PREFIX):
        return path
    _token, slash, rest = path[len(PREFIX) :].partition("/")
    return f"{PREFIX}{HIDDEN}{slash}{rest}"


def logged_target(environ: dict[str, Any]) -> str:
    """The request target as the access log writes it: the path as routed (with the
    token's place marked when it came in the path) and the query, never `RAW_URI`."""
    path = quote(environ.get("PATH_INFO", ""), safe="/;:@&=+$,!~*'()[]")
    if environ.get(TOOK_TOKEN):
        path = f"{PREFIX}{HIDDEN}{path}"
    query = environ.get("QUERY_STRING")
    return f"{hide(path)}?{query}" if query else hide(path)


def _blank_request_line(environ: dict[str, Any]) -> None:
    """Whatever else reads the raw request line reads it without the token."""
    for key in ("RAW_URI", "REQUEST_URI"):
        if key in environ:
            environ[key] = logged_target(environ)


def _refuse(
    environ: dict[str, Any], start_response: Callable[..., Any], status: int, code: str, text: str
) -> list[bytes]:
    environ["PATH_INFO"] = hide(environ["PATH_INFO"])
    _blank_request_line(environ)
    body = json.dumps({"error": {"code": code, "message": text}}).encode()
    reason = "NOT FOUND" if status == 404 else "BAD REQUEST"
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
