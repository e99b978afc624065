"""Giving back, before the workers are forked, the memory the master needed only to start.

Starting a server loads and links every numba kernel (LLVM's code, about 60
MB of it, is read in for that and never run again), initialises OpenCV and
the cryptography bindings, builds the index snapshot and frees it. The
master then only supervises the workers, yet all of that stayed resident
and counted against it (about 100 MB of a 315 MB service). Two calls give
it back:

- `malloc_trim` returns the heap's free pages to the system, so the workers
  do not inherit them either;
- `madvise(MADV_DONTNEED)` on the file-backed, read-only mappings that hold
  no changed page (code and constants as they are on disk): whatever is
  touched again is read back from the page cache, unchanged.

Linux with glibc only; elsewhere nothing is done.

Compiling a kernel costs far more than that: where numba's cache is empty
(the first start of a new installation or image), LLVM's compiler state
stays in the heap of the process that compiled, about 190 MB, which the
workers would inherit and the trim cannot give back. The master therefore
has the kernels compiled in a throwaway child first (`compile_elsewhere`)
and only loads their machine code from the cache itself.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MADV_DONTNEED = 4
#: Mappings that are never written: code, and constants outside relocation.
_READ_ONLY = ("r-xp", "r--p")
#: Fields of /proc/self/smaps that must be zero for a mapping's pages to be dropped.
_UNCHANGED = ("Private_Dirty", "Shared_Dirty", "Anonymous")


def release_startup_memory() -> int:
    """Give back what this process no longer needs; the bytes dropped from it."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return 0
    dropped = 0
    for start, end, resident in droppable_mappings(Path("/proc/self/smaps").read_text()):
        if libc.madvise(start, end - start, MADV_DONTNEED) == 0:
            dropped += resident
    log.debug("gave back %d kB of startup memory", dropped // 1024)
    return dropped


def droppable_mappings(smaps: str) -> list[tuple[int, int, int]]:
    """(start, end, resident bytes) of each read-only file mapping without a changed page."""
    found = []
    current: tuple[int, int, bool] | None = None
    fields: dict[str, int] = {}

    def close() -> None:
        if current is not None and current[2] and all(fields.get(f, 1) == 0 for f in _UNCHANGED):
            found.append((current[0], current[1], fields.get("Rss", 0) * 1024))

    for line in smaps.splitlines():
        head, _, rest = line.partition(" ")
        if "-" in head and not head.endswith(":"):
            close()
            parts = rest.split()
            low, high = (int(part, 16) for part in head.split("-"))
            path = parts[4] if len(parts) > 4 else ""
            current = (low, high, parts[0] in _READ_ONLY and path.startswith("/"))
            fields = {}
        elif head.endswith(":") and rest.split() and rest.split()[0].isdigit():
            fields[head[:-1]] = int(rest.split()[0])
    close()
    return found


def compile_elsewhere(warm_up: Callable[[], None]) -> bool:
    """Run `warm_up` in a forked child, so that what it compiles lands in numba's
    cache and not in this process; whether the child succeeded.

    With a warm cache the child only loads, a fraction of a second. Where the
    cache cannot be written, the caller compiles when it warms up itself, as
    it would have anyway.
    """
    if not sys.platform.startswith("linux"):
        return False
    child = multiprocessing.get_context("fork").Process(
        target=warm_up, name="hma-compile", daemon=True
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        log.warning("compiling the kernels in a child failed (exit code %s)", child.exitcode)
    return child.exitcode == 0
