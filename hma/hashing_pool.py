"""Hashing uploads in child processes, for the request workers of `hma serve`.

Decoding and PDQ hold the GIL for most of an upload's tens of milliseconds:
hashed in a request thread, every upload would stop all the lookups of its
worker while it ran. Each worker therefore hands uploads to a small pool of
child processes, started before it accepts requests and run at a lower CPU
priority than the workers, so a lookup gets a core before an upload does.
A child that dies (a decoder crashing on hostile media, say) costs that one
upload an error and is replaced; the worker itself never goes down with it.
"""

from __future__ import annotations

import io
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


def _sample_jpeg() -> bytes:
    """A small photo-like JPEG: hashing it loads every decoder and table a real upload needs."""
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(out, "JPEG")
    return out.getvalue()


class HashingPool:
    """`processes` hashing processes, replaced as a whole if one of them dies."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings, self.processes = settings, processes
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the worker has threads, which a fork would not carry.
        return ProcessPoolExecutor(
            self.processes,
            mp_context=get_context("spawn"),
            initializer=_start_child,
            initargs=(self.settings,),
        )

    def warm_up(self) -> None:
        """Start every process and hash once in it now, rather than on a user's first upload."""
        sample = _sample_jpeg()
        jobs = [self._pool.submit(_hash_in_child, sample, None) for _ in range(self.processes)]
        for job in jobs:
            job.result()

    def hash(self, data: bytes, path: Path | None = None) -> list[Signal]:
        """Signals of one upload; raises HashingError for bad media."""
        pool = self._pool
        try:
            return pool.submit(_hash_in_child, data, path).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    log.error("a hashing process died; starting new ones")
                    self._pool = self._start()
            raise HasherCrashed("hashing this upload stopped its hashing process") from None
