"""Exact Hamming-distance search over 256-bit PDQ hashes, with live updates.

    index = PDQIndex.build(ids, hashes)      # ids: int64 (N,), hashes: uint8 (N, 32)
    index.query(hash32, threshold=31)        # every (id, distance) within threshold
    index.add(ids, hashes); index.remove(ids)
    index.save(path); PDQIndex.load(path)    # a directory; load memory-maps it

Segments are searched by multi-index hashing (`matchers.mih`), the delta of
recent additions by a linear scan; see `matchers.live` for how updates,
compaction and snapshots work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from matchers import mih
from matchers.base import Hit
from matchers.live import Bits, IdArray, LiveIndex, Rows, Segment, as_ids, dead_bits, narrow_ids

HASH_BYTES = 32
HASH_BITS = HASH_BYTES * 8
DEFAULT_THRESHOLD = 31

HashArray = npt.NDArray[np.uint8]


def _as_hashes(hashes: Any) -> HashArray:
    array = np.asarray(hashes)
    if array.size == 0:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    if array.ndim != 2 or array.shape[1] != HASH_BYTES or array.dtype != np.uint8:
        raise ValueError(f"hashes must be a uint8 array of shape (N, {HASH_BYTES})")
    return array


def _query_words(hash32: Any) -> npt.NDArray[np.uint64]:
    if isinstance(hash32, bytes | bytearray | memoryview):
        array = np.frombuffer(bytes(hash32), dtype=np.uint8)
    else:
        array = np.asarray(hash32)
    if array.shape != (HASH_BYTES,) or array.dtype != np.uint8:
        raise ValueError(f"a query hash must be {HASH_BYTES} bytes")
    return np.asarray(mih.hash_words(array.reshape(1, HASH_BYTES))[0], dtype=np.uint64)


def check_threshold(threshold: Any, bits: int = HASH_BITS) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise ValueError(f"threshold must be an integer from 0 to {bits}")
    if not 0 <= threshold <= bits:
        raise ValueError(f"threshold must be an integer from 0 to {bits}")
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


_PLANS: dict[tuple[int, ...], mih.ProbePlan] = {}


def _plan(highs: npt.NDArray[np.int64]) -> mih.ProbePlan:
    key = tuple(int(h) for h in highs)
    if key not in _PLANS:
        _PLANS[key] = mih.ProbePlan(highs)
    return _PLANS[key]


class _PDQSegment(Segment):
    """Hashes (as 4 words each) with their multi-index hashing tables."""

    structure = ("entries", "dirs")

    def __init__(
        self,
        ids: npt.NDArray[Any],
        rows: Rows,
        dead: Bits,
        entries: npt.NDArray[np.uint32],
        dirs: npt.NDArray[np.uint32],
        highs: npt.NDArray[np.int64],
    ) -> None:
        super().__init__(ids, rows, dead)
        self.entries = entries
        self.dirs = dirs
        self.highs = highs
        self.dir_base = mih.directory_base(highs)
        self.plan = _plan(highs)
        self._strategies: dict[int, tuple[npt.NDArray[np.int64], bool]] = {}

    @classmethod
    def build(cls, ids: IdArray, rows: Rows) -> Self:
        highs = mih.directory_bits(len(ids))
        entries, dirs = mih.build_tables(rows, highs, mih.directory_base(highs))
        return cls(narrow_ids(ids), rows, dead_bits(len(ids)), entries, dirs, highs)

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], meta: dict[str, Any]) -> Self:
        return cls(
            arrays["ids"],
            arrays["rows"],
            arrays["dead"],
            arrays["entries"],
            arrays["dirs"],
            np.array(meta["highs"], dtype=np.int64),
        )

    def meta(self) -> dict[str, Any]:
        return {"highs": self.highs.tolist()}

    def _strategy(self, threshold: int) -> tuple[npt.NDArray[np.int64], bool]:
        """Per-chunk radii for `threshold`, and whether probing beats a linear scan."""
        cached = self._strategies.get(threshold)
        if cached is None:
            radii = mih.radii_for(threshold)
            count = len(self.ids)
            probing = radii.max() <= mih.MAX_RADIUS and (
                self.plan.expected_scan(self.highs, radii, count) <= count / 4
            )
            cached = self._strategies[threshold] = (radii, probing)
        return cached

    def query(self, q: npt.NDArray[np.uint64], threshold: int) -> tuple[IdArray, IdArray]:
        radii, probing = self._strategy(threshold)
        if probing:
            positions, distances = mih.probe(
                self.rows,
                self.entries,
                self.dirs,
                self.dir_base,
                self.dead,
                mih.CHUNK_STARTS,
                mih.CHUNK_LENGTHS,
                self.highs,
                radii,
                self.plan.high_masks,
                self.plan.high_balls,
                self.plan.low_masks,
                self.plan.low_balls,
                q,
                threshold,
            )
        else:
            positions, distances = mih.scan(self.rows, len(self.ids), self.dead, q, threshold)
        return self.ids[positions].astype(np.int64), distances


class PDQIndex(LiveIndex):
    """Ids and their PDQ hashes, searchable by exact Hamming distance; thread-safe."""

    segment_type = _PDQSegment
    width: ClassVar[int] = 4
    snapshot_format = "hma-pdq-index/1"

    @classmethod
    def build(cls, ids: Any, hashes: Any) -> PDQIndex:
        return cls.from_rows(as_ids(ids), mih.hash_words(_as_hashes(hashes)))

    def add(self, ids: Any, hashes: Any) -> None:
        """Insert hashes; an id already present has its hash replaced. Visible at once."""
        self.add_rows(as_ids(ids), mih.hash_words(_as_hashes(hashes)))

    def query(self, hash32: Any, threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        """Every (id, distance) within `threshold` of `hash32`, nearest first."""
        limit = check_threshold(threshold)
        q = _query_words(hash32)
        segments, delta = self._state
        parts = [segment.query(q, limit) for segment in segments]  # type: ignore[attr-defined]
        view = delta.view
        positions, distances = mih.scan(view.rows, view.count, view.dead, q, limit)
        parts.append((view.ids[positions], distances))
        ids = np.concatenate([p[0] for p in parts])
        found = np.concatenate([p[1] for p in parts])
        order = np.lexsort((ids, found))
        return list(zip(ids[order].tolist(), found[order].tolist(), strict=True))

    def query_many(
        self, hashes: Any, threshold: int = DEFAULT_THRESHOLD
    ) -> list[list[tuple[int, int]]]:
        return [self.query(h, threshold) for h in _as_hashes(hashes)]

    # The SignalIndex interface, over normalised hex strings.

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.add(np.asarray(ids, dtype=np.int64), hashes_from_hex(values))

    def lookup(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        return [
            [Hit(i, d) for i, d in found]
            for found in self.query_many(hashes_from_hex(values), threshold)
        ]
