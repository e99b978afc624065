"""Cross-process locks, so that one sync (or feedback run) never runs twice at once.

PostgreSQL: a session-level advisory lock, held on a connection of its own,
which the server releases by itself if the process dies. SQLite: an exclusive
`flock` on a file in the data directory, which the kernel releases when the
process dies. Both are tried without waiting: a job that finds its lock taken
is simply skipped, because another process is already doing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from banks import filelock
from hma.db import Database


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.sha256(f"hma:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(database: Database, data_dir: Path, name: str) -> Iterator[bool]:
    """Hold the lock called `name` for the block if it is free; yields whether it was."""
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            key = _key(name)
            taken = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            try:
                yield taken
            finally:
                if taken:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.rollback()
        return
    safe = hashlib.sha256(name.encode()).hexdigest()[:16]
    with filelock.held(data_dir / "locks" / f"{safe}.lock") as taken:
        yield taken
