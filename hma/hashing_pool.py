"""Hashing videos in child processes, for the request workers of `hma serve`.

Images are hashed in the request's own thread: decoding releases the GIL,
PDQ runs in a kernel that releases it, and the hand-off to another process
cost more than the whole hash. Videos are another matter: decoding them
takes FFmpeg seconds of work on the most complex input a platform accepts,
so each worker hands them to a pool of child processes, started at the
first video (most deployments hash few or none) and run at a lower CPU
priority than the workers. A child that dies (a decoder crashing on hostile
media, say) costs that one upload an error and is replaced; the worker itself
never goes down with it.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from core.errors import HasherCrashed
from hashers import HashingConfig, Registry, Signal
from hma.settings import Settings

log = logging.getLogger(__name__)

#: How much less CPU priority the hashing processes get than the request workers.
HASHING_NICENESS = 10


_child: tuple[Registry, HashingConfig] | None = None


def _start_child(settings: Settings) -> None:
    global _child
    from hma.scan import build_registry

    os.nice(HASHING_NICENESS)
    _child = (build_registry(settings), settings.hashing)


def _hash_in_child(data: bytes, path: Path | None) -> list[Signal]:
    assert _child is not None, "hashing process was not initialised"
    registry, config = _child
    return registry.hash_bytes(data, config, path)


def _started() -> int:
    return os.getpid()


class HashingPool:
    """`processes` hashing processes, started when first needed, replaced as a whole
    if one of them dies."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings, self.processes = settings, processes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the worker has threads, which a fork would not carry.
        return ProcessPoolExecutor(
            self.processes,
            mp_context=get_context("spawn"),
            initializer=_start_child,
            initargs=(self.settings,),
        )

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = self._start()
            return self._pool

    def hash(self, data: bytes, path: Path | None = None) -> list[Signal]:
        """Signals of one upload; raises HashingError for bad media."""
        pool = self._current()
        try:
            return pool.submit(_hash_in_child, data, path).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    log.error("a hashing process died; starting new ones")
                    self._pool = None
            raise HasherCrashed("hashing this upload stopped its hashing process") from None

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
