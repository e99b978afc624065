"""The background jobs of a deployment, run by exactly one process across all hosts.

Every process that may run the jobs (`hma serve --role jobs`, and each worker
of `--role all`) tries to hold the `jobs` lease, a row in the database. The
holder renews it every third of its term and runs the scheduler; the others
keep trying. When the holder dies it stops renewing, and another process takes
over once the term has run out; it resumes each sync from the checkpoint the
dead one committed last. A holder that cannot renew (the database is gone, or
it stalled past its term) stops its scheduler at once.

The lease is the coarse guarantee; the per-sync locks in `hma.locks` are the
fine one, so even two processes that both believe they lead never run the
same sync at once. Hosts' clocks must agree to well within a term (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from banks.egress import Egress
from database import utcnow
from hma.db import Database
from hma.exchanges import Exchanges
from hma.models import Lease
from hma.scheduler import Scheduler
from hma.settings import Settings

log = logging.getLogger(__name__)

JOBS_LEASE = "jobs"


def process_name() -> str:
    """How this process is named as a lease holder: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def hold(database: Database, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; whether `holder` now has it.

    One conditional UPDATE decides between contenders (the row is locked by
    whichever gets there first), and an INSERT creates the row the first time.
    """
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    with database.session() as session:
        renewed = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
        if renewed.rowcount:  # type: ignore[attr-defined]
            return True
        try:
            with session.begin_nested():
                session.execute(
                    insert(Lease).values(
                        name=name, holder=holder, expires_at=expires, acquired_at=now
                    )
                )
        except IntegrityError:
            return False  # someone else holds it
        return True


def release(database: Database, name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), so that another holder need not wait."""
    with database.session() as session:
        session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=utcnow())
        )


class Leader:
    """Runs `start()` while this process holds the lease and `stop()` when it loses it.

    `start` and `stop` are called from the leader's own thread, never twice in
    a row; `stop` must not wait for work in progress (the per-sync locks keep
    a successor from overlapping it).
    """

    def __init__(
        self,
        database: Database,
        start: Callable[[], None],
        stop: Callable[[], None],
        seconds: float,
        name: str = JOBS_LEASE,
    ) -> None:
        self.database, self.name, self.seconds = database, name, seconds
        self.holder = process_name()
        self._start, self._stop = start, stop
        self.leading = False
        self._quit = threading.Event()

    def run(self) -> None:
        """Hold the lease (and the jobs) until `quit()`; blocks."""
        while not self._quit.is_set():
            self.step()
            self._quit.wait(self.seconds / 3)
        if self.leading:
            self._lose()
            try:
                release(self.database, self.name, self.holder)
            except SQLAlchemyError:
                log.warning("could not release the %s lease; it expires by itself", self.name)

    def step(self) -> None:
        """One attempt to take or renew the lease, starting or stopping the jobs to match."""
        try:
            held = hold(self.database, self.name, self.holder, self.seconds)
        except SQLAlchemyError as exc:
            log.warning("cannot reach the database to renew the %s lease: %s", self.name, exc)
            held = False
        if held and not self.leading:
            log.info("%s took the %s lease", self.holder, self.name)
            self.leading = True
            self._start()
        elif not held and self.leading:
            log.warning("%s lost the %s lease; stopping its jobs", self.holder, self.name)
            self._lose()

    def _lose(self) -> None:
        self.leading = False
        self._stop()

    def quit(self) -> None:
        """Make `run()` hand the lease on and return (safe from a signal handler)."""
        self._quit.set()


def jobs_leader(
    settings: Settings, database: Database, exchanges: Exchanges, egress: Egress
) -> Leader:
    """A leader that runs the scheduler (syncs, feedback, webhooks, decisions) while it leads."""
    running: list[Scheduler] = []

    def start() -> None:
        scheduler = Scheduler(settings, database, exchanges, egress)
        scheduler.start()
        running.append(scheduler)

    def stop() -> None:
        running.pop().stop()

    return Leader(database, start, stop, settings.jobs_lease_seconds)
