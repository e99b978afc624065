"""Hashing many local files on every core, in order, keeping going past bad ones.

Workers are processes (decoding and PDQ hold the GIL for much of their time).
Results come back in input order through a bounded window of pending work, so
memory stays flat however many files a directory holds.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from core.errors import HashingError
from hashers import HashingConfig, Registry, Signal
from hma.allocator import keep_freed_memory
from hma.assembly import build_registry
from hma.settings import Settings

#: Pending files per worker: enough to keep workers busy, little enough to bound memory.
WINDOW_PER_WORKER = 4


@dataclass(frozen=True)
class HashOutcome:
    path: str
    signals: list[Signal] | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.signals is not None


def expand(paths: Iterable[str]) -> Iterator[str]:
    """Files named, and every file under directories named, in sorted order."""
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                yield os.path.join(root, name)


def hash_file(path: str, registry: Registry, config: HashingConfig) -> HashOutcome:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return HashOutcome(
            path, error_code="unreadable_file", error_message=f"cannot read {path}: {exc.strerror}"
        )
    try:
        return HashOutcome(path, signals=registry.hash_bytes(data, config, Path(path)))
    except HashingError as exc:
        return HashOutcome(path, error_code=exc.code, error_message=exc.message)


_worker: tuple[Registry, HashingConfig] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    keep_freed_memory()
    _worker = (build_registry(settings), settings.hashing)


def _hash_in_worker(path: str) -> HashOutcome:
    assert _worker is not None, "worker was not initialised"
    return hash_file(path, *_worker)


def worker_count(settings: Settings) -> int:
    return settings.hash_workers or os.cpu_count() or 1


def hash_files(
    paths: Iterable[str], settings: Settings, registry: Registry, workers: int
) -> Iterator[HashOutcome]:
    """One outcome per file, in order; `workers` > 1 hashes in that many processes."""
    if workers <= 1:
        config = settings.hashing
        for path in paths:
            yield hash_file(path, registry, config)
        return
    # Children come from a fork server, not from this process: a process that has
    # decoded video holds FFmpeg's threads and locks, and a fork of it can hang there.
    context = get_context("forkserver")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(settings,)
    ) as pool:
        pending: deque[Future[HashOutcome]] = deque()
        for path in paths:
            pending.append(pool.submit(_hash_in_worker, path))
            if len(pending) >= workers * WINDOW_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
