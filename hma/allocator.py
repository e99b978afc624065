"""Keeping freed memory for the next upload rather than giving it back at once.

glibc's malloc hands blocks over 128 kB to the kernel, then raises that bar
to the largest block freed so far, and trims a thread's heap whenever more
than twice that is free at its top. Hashing an upload allocates a few blocks
of about that size (the decoded pixels, their RGB copy, the upload) and frees
them together, so each upload's heap was trimmed on the way out and faulted
in afresh on the way in: 600 page faults, about 4 ms of a 12 ms request for a
1024x768 JPEG. Fixed thresholds keep up to `TRIM_THRESHOLD` free at a heap's
top for the next upload; blocks over `MMAP_THRESHOLD` (a huge image's
pixels) still go straight back to the kernel when freed.

glibc only (elsewhere nothing is done), and not where the operator has tuned
malloc already through `GLIBC_TUNABLES`.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: mallopt's parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Fix malloc's thresholds for this process and its forks; whether they were set."""
    if not sys.platform.startswith("linux") or "glibc.malloc" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
