"""Where a request worker of `hma serve` hashes uploads: images in threads, videos in
processes, both at a lower CPU priority than the worker's requests.

Images are hashed in a few threads of the worker itself: decoding releases
the GIL, PDQ runs in a kernel that releases it, and handing the bytes to
another process cost more than the whole hash. The threads run at a lower
priority (Linux gives each thread a niceness of its own), so a lookup gets a
core before an upload does, as it did when uploads went to child processes.

Videos take FFmpeg seconds of work on the most complex input a platform
accepts, so they go to a pool of child processes, started at the first video
(most deployments hash few or none). A child that dies (a decoder crashing
on hostile media, say) costs that one upload an error and is replaced; the
worker itself never goes down with it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from core.errors import HasherCrashed
from hashers import HashingConfig, Registry, Signal
from hashers.media import video_container
from hma.allocator import keep_freed_memory
from hma.assembly import build_registry
from hma.settings import Settings

log = logging.getLogger(__name__)

#: How much less CPU priority hashing threads and processes get than requests.
HASHING_NICENESS = 10


_child: tuple[Registry, HashingConfig] | None = None


def _start_child(settings: Settings) -> None:
    global _child
    keep_freed_memory()
    os.nice(HASHING_NICENESS)
    _child = (build_registry(settings), settings.hashing)


def _hash_in_child(data: bytes, path: Path | None) -> list[Signal]:
    assert _child is not None, "hashing process was not initialised"
    registry, config = _child
    return registry.hash_bytes(data, config, path)


def _started() -> int:
    return os.getpid()


def _lower_this_threads_priority() -> None:
    """Lower the calling thread's CPU priority by HASHING_NICENESS (Linux: per thread;
    elsewhere a niceness is the whole process's, so nothing is changed)."""
    if sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS
        )


class HashingThreads:
    """`threads` threads of this process that hash images at a lower CPU priority."""

    def __init__(self, registry: Registry, config: HashingConfig, threads: int) -> None:
        self.registry, self.config = registry, config
        self._threads = ThreadPoolExecutor(
            threads, thread_name_prefix="hashing", initializer=_lower_this_threads_priority
        )

    def hash(self, data: bytes, path: Path | None = None) -> list[Signal]:
        """Signals of one upload; raises HashingError for bad media."""
        return self._threads.submit(self.registry.hash_bytes, data, self.config, path).result()


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


class ServerHashing:
    """How a request worker hashes: images in `threads` threads, videos in
    `processes` child processes; handed to the scanner (`Scanner.hash_with`)."""

    def __init__(self, registry: Registry, settings: Settings, threads: int, processes: int):
        self.images = HashingThreads(registry, settings.hashing, threads)
        self.videos = HashingPool(settings, processes)

    def __call__(self, data: bytes, path: Path | None) -> list[Signal]:
        if video_container(data) is not None:
            return self.videos.hash(data, path)
        return self.images.hash(data, path)
