"""Exact Hamming-distance search over 256-bit PDQ hashes.

Correctness first: every stored hash within the threshold is returned with its
true distance, and nothing beyond it. The current search is a vectorised scan
(XOR plus popcount over four 64-bit words per hash); the public API below is
the contract that faster structures must keep.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from matchers.base import Hit

HASH_BYTES = 32
HASH_BITS = HASH_BYTES * 8
DEFAULT_THRESHOLD = 31

IdArray = npt.NDArray[np.int64]
HashArray = npt.NDArray[np.uint8]

_SNAPSHOT_DTYPE = np.dtype([("id", "<i8"), ("hash", "u1", (HASH_BYTES,))])


def _as_ids(ids: Any) -> IdArray:
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError("ids must be a one-dimensional array")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError("ids must be integers")
    return array.astype(np.int64, copy=False)


def _as_hashes(hashes: Any) -> HashArray:
    array = np.asarray(hashes)
    if array.size == 0:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    if array.ndim != 2 or array.shape[1] != HASH_BYTES or array.dtype != np.uint8:
        raise ValueError(f"hashes must be a uint8 array of shape (N, {HASH_BYTES})")
    return array


def _as_query(hash32: Any) -> HashArray:
    if isinstance(hash32, bytes | bytearray | memoryview):
        array = np.frombuffer(bytes(hash32), dtype=np.uint8)
    else:
        array = np.asarray(hash32)
    if array.shape != (HASH_BYTES,) or array.dtype != np.uint8:
        raise ValueError(f"a query hash must be {HASH_BYTES} bytes")
    return array


def _check_threshold(threshold: int) -> int:
    if not isinstance(threshold, int | np.integer) or not 0 <= threshold <= HASH_BITS:
        raise ValueError(f"threshold must be an integer from 0 to {HASH_BITS}")
    return int(threshold)


def hashes_from_hex(values: Sequence[str]) -> HashArray:
    """Stack 64-hex-digit PDQ strings into a (N, 32) uint8 array."""
    if not values:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    try:
        raw = b"".join(bytes.fromhex(v) for v in values)
    except ValueError as exc:
        raise ValueError("PDQ values must be hexadecimal") from exc
    if len(raw) != HASH_BYTES * len(values):
        raise ValueError("PDQ values must be 64 hexadecimal digits each")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, HASH_BYTES)


class PDQIndex:
    """Ids and their PDQ hashes, searchable by Hamming distance."""

    def __init__(self) -> None:
        self._ids: IdArray = np.empty(0, dtype=np.int64)
        self._words: npt.NDArray[np.uint64] = np.empty((0, 4), dtype=np.uint64)
        self._lock = threading.RLock()

    @classmethod
    def build(cls, ids: Any, hashes: Any) -> PDQIndex:
        index = cls()
        index.add(ids, hashes)
        return index

    def __len__(self) -> int:
        return int(self._ids.size)

    def add(self, ids: Any, hashes: Any) -> None:
        """Insert hashes; an id already present has its hash replaced."""
        new_ids = _as_ids(ids)
        new_hashes = _as_hashes(hashes)
        if new_ids.size != new_hashes.shape[0]:
            raise ValueError("ids and hashes must have the same length")
        # The last occurrence of a repeated id wins, as if added one by one.
        _, last = np.unique(new_ids[::-1], return_index=True)
        keep = np.sort(new_ids.size - 1 - last)
        new_ids, new_hashes = new_ids[keep], new_hashes[keep]
        words = np.ascontiguousarray(new_hashes).view(np.uint64).reshape(-1, 4)
        with self._lock:
            stay = ~np.isin(self._ids, new_ids)
            self._ids = np.concatenate([self._ids[stay], new_ids])
            self._words = np.concatenate([self._words[stay], words])

    def remove(self, ids: Any) -> None:
        """Forget `ids`; unknown ids are ignored."""
        gone = _as_ids(ids)
        with self._lock:
            stay = ~np.isin(self._ids, gone)
            self._ids = self._ids[stay]
            self._words = self._words[stay]

    def query(self, hash32: Any, threshold: int = DEFAULT_THRESHOLD) -> list[Hit]:
        """Every (id, distance) within `threshold` of `hash32`, nearest first."""
        limit = _check_threshold(threshold)
        query_words = _as_query(hash32).view(np.uint64)
        with self._lock:
            ids, words = self._ids, self._words
        distances = np.bitwise_count(words ^ query_words).sum(axis=1, dtype=np.int64)
        found = np.flatnonzero(distances <= limit)
        order = found[np.lexsort((ids[found], distances[found]))]
        return [(int(ids[i]), int(distances[i])) for i in order]

    def query_many(self, hashes: Any, threshold: int = DEFAULT_THRESHOLD) -> list[list[Hit]]:
        return [self.query(h, threshold) for h in _as_hashes(hashes)]

    def save(self, path: str | Path) -> None:
        """Write a snapshot that `load` reads back (an .npy structured array)."""
        with self._lock:
            ids, words = self._ids, self._words
        records = np.empty(ids.size, dtype=_SNAPSHOT_DTYPE)
        records["id"] = ids
        records["hash"] = words.view(np.uint8).reshape(-1, HASH_BYTES)
        with open(path, "wb") as out:
            np.save(out, records, allow_pickle=False)

    @classmethod
    def load(cls, path: str | Path) -> PDQIndex:
        records = np.load(path, mmap_mode="r", allow_pickle=False)
        if records.dtype != _SNAPSHOT_DTYPE:
            raise ValueError(f"{path} is not a PDQ index snapshot")
        return cls.build(np.array(records["id"]), np.array(records["hash"]))

    # The SignalIndex interface, over normalised hex strings.

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.add(np.asarray(ids, dtype=np.int64), hashes_from_hex(values))

    def lookup(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        return self.query_many(hashes_from_hex(values), threshold)
