"""A host-wide lock held through a file, taken without waiting.

`flock` is released by the kernel when its process dies, so a crashed holder
never leaves the lock stuck. It serves what one host must do once at a time:
write the index snapshot, and run a job on a SQLite deployment.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def held(path: Path) -> Iterator[bool]:
    """Hold the lock file at `path` for the block if it is free; yields whether it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
