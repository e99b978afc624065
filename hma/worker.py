"""The gunicorn worker of `hma serve`: threaded, fairly fed, and timing its queue.

Connections: gunicorn's workers share the master's listening socket, and the
first worker to wake takes whatever connections arrive together; clients that
keep their connections open (load balancers, SDKs) then stay on that worker
while the others idle. Each worker here also listens on a socket of its own
on the same address (SO_REUSEPORT), so the kernel spreads new connections
over the workers; the shared socket is still served, by all of them.

Queueing: it notes how long each request waited for a thread, which
`hma.overload` uses to answer requests that waited too long with a 503.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from hma import overload

#: Connections the kernel queues for a worker's own socket (gunicorn's default).
BACKLOG = 2048
#: Seconds between the worker's heartbeats to the master.
HEARTBEAT_SECONDS = 1.0


class Worker(ThreadWorker):  # type: ignore[misc]
    sockets: list[Any]

    def init_process(self) -> None:
        self.sockets = [*self.sockets, *(_own_listener(s) for s in self.sockets)]
        super().init_process()

    def notify(self) -> None:
        """Tell the master this worker lives, at most once a second.

        Gunicorn's threaded worker does so on every turn of its loop, a
        system call per request; the master's timeout is counted in tens of
        seconds.
        """
        now = time.monotonic()
        if now - getattr(self, "_notified_at", -HEARTBEAT_SECONDS) >= HEARTBEAT_SECONDS:
            self._notified_at = now
            super().notify()

    def enqueue_req(self, conn: Any) -> None:
        conn.hma_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        overload.note_queue_wait(time.monotonic() - getattr(conn, "hma_queued_at", 0.0))
        return super().handle(conn)


def _own_listener(shared: Any) -> socket.socket:
    """A listening socket of this worker's own, on the address of `shared`."""
    own = socket.socket(shared.family, socket.SOCK_STREAM)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # As gunicorn's own listener: accepted connections inherit it, and without
    # it a response's last segment waits for the client's delayed ACK (40 ms).
    own.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    own.bind(shared.getsockname())
    own.listen(BACKLOG)
    own.setblocking(False)
    return own
