"""HMA's API on a port of its own (the `hma_api_port` setting).

An operator who keeps HMA's clients on an internal network binds a second
listener for them: there, only HMA's API answers; on the main port, it does
not. The port a request came in on is the listening socket's own, never
what the client's Host header claims.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from hma.web.hma_api import serves

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def on_own_port(app: WsgiApp, port: int) -> WsgiApp:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        on_hma_port = arrival_port(environ) == port
        if serves(environ.get("PATH_INFO", "")) != on_hma_port:
            return _not_here(start_response, on_hma_port)
        return app(environ, start_response)

    return middleware


def arrival_port(environ: dict[str, Any]) -> int | None:
    """The local port of the connection (gunicorn's socket; else the server's port)."""
    connection = environ.get("gunicorn.socket")
    if connection is not None:
        try:
            return int(connection.getsockname()[1])
        except OSError:
            return None
    try:
        return int(environ.get("SERVER_PORT", ""))
    except ValueError:
        return None


def _not_here(start_response: Callable[..., Any], on_hma_port: bool) -> Iterable[bytes]:
    text = (
        "only HMA's API is served on this port"
        if on_hma_port
        else "HMA's API is served on its own port here"
    )
    body = json.dumps({"message": text}).encode()
    start_response(
        "404 NOT FOUND",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
