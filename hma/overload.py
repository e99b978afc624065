"""Answering overload at once (503 with Retry-After) instead of queueing for seconds.

Gunicorn's threaded worker hands each request to a thread pool whose queue
has no bound: under more load than the cores can serve, requests wait there
longer and longer while their clients time out. `hma.worker.Worker` notes
how long each request waited for a thread; `shed_overload` then answers any
request that waited longer than the limit with a 503 (after reading nothing
but its headers), which drains the queue quickly and tells
the client, or its load balancer, to try again or elsewhere. Health checks
are never shed: an overloaded replica is alive, and its readiness is its own
question.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

#: Paths answered whatever the load.
HEALTH_PATHS = frozenset({"/api/v1/status", "/api/v1/live", "/api/v1/ready"})
RETRY_AFTER_SECONDS = 1

_waited = threading.local()

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def note_queue_wait(seconds: float) -> None:
    """Record, for the request this thread is about to serve, how long it queued."""
    _waited.seconds = seconds


def queue_wait() -> float:
    """Seconds the current request waited for a thread (0 outside `hma.worker.Worker`)."""
    return float(getattr(_waited, "seconds", 0.0))


def shed_overload(app: WsgiApp, limit_seconds: float) -> WsgiApp:
    """Wrap a WSGI app so that requests that queued past `limit_seconds` get a 503."""
    body = json.dumps(
        {
            "error": {
                "code": "overloaded",
                "message": "the server is busy; retry after the Retry-After delay",
            }
        }
    ).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
    ]

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (
            limit_seconds > 0
            and queue_wait() > limit_seconds
            and environ.get("PATH_INFO") not in HEALTH_PATHS
        ):
            _waited.seconds = 0.0
            start_response("503 Service Unavailable", headers)
            return [body]
        return app(environ, start_response)

    return wrapped
