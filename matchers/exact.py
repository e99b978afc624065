"""Exact-match index for digests, URLs and other values compared for equality.

Each value is stored as a 128-bit BLAKE2b key (two uint64 words): the same
size for an MD5, a SHA-256 or a long URL, and collision-free in practice
(a collision among ten million keys has odds around 10^-25). Segments keep
their rows in id order, as every live index does, plus a permutation in key
order to look keys up by binary search: 36 bytes per value in all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from matchers.base import Hit
from matchers.live import (
    Bits,
    IdArray,
    LiveIndex,
    Rows,
    Segment,
    as_ids,
    dead_bits,
    is_dead,
    narrow_ids,
)


def value_keys(values: Sequence[str]) -> Rows:
    """(N, 2) uint64 keys of string values."""
    raw = b"".join(hashlib.blake2b(v.encode(), digest_size=16).digest() for v in values)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 2)


class _ExactSegment(Segment):
    structure = ("by_key", "sorted_high")

    def __init__(
        self,
        ids: npt.NDArray[Any],
        rows: Rows,
        dead: Bits,
        by_key: npt.NDArray[Any],
        sorted_high: npt.NDArray[np.uint64],
    ) -> None:
        super().__init__(ids, rows, dead)
        self.by_key = by_key
        self.sorted_high = sorted_high

    @classmethod
    def build(cls, ids: IdArray, rows: Rows) -> Self:
        by_key = np.lexsort((rows[:, 1], rows[:, 0])).astype(np.uint32)
        return cls(narrow_ids(ids), rows, dead_bits(len(ids)), by_key, rows[by_key, 0].copy())

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], meta: dict[str, Any]) -> Self:
        return cls(
            arrays["ids"], arrays["rows"], arrays["dead"], arrays["by_key"], arrays["sorted_high"]
        )

    def find_many(self, keys: Rows) -> list[tuple[int, IdArray]]:
        """(position in `keys`, ids) for each key stored here: one vectorised search
        for all keys (a URL's lookup asks for up to thirty at once)."""
        starts = np.searchsorted(self.sorted_high, keys[:, 0], side="left")
        ends = np.searchsorted(self.sorted_high, keys[:, 0], side="right")
        out = []
        for which in np.flatnonzero(ends > starts):
            positions = self.by_key[starts[which] : ends[which]].astype(np.int64)
            positions = positions[self.rows[positions, 1] == keys[which, 1]]
            positions = positions[~is_dead(self.dead, positions)]
            if positions.size:
                out.append((int(which), np.asarray(self.ids[positions], dtype=np.int64)))
        return out


class ExactIndex(LiveIndex):
    """Value -> ids for equality matches; thread-safe, with live updates."""

    segment_type = _ExactSegment
    width: ClassVar[int] = 2
    snapshot_format = "hma-exact-index/1"

    @classmethod
    def build(cls, ids: Any, values: Sequence[str]) -> ExactIndex:
        return cls.from_rows(as_ids(ids), value_keys(values))

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.add_rows(as_ids(ids), value_keys(values))

    def lookup(self, values: Sequence[str], threshold: int = 0) -> list[list[Hit]]:
        """Exact matches only; `threshold` is accepted for interface symmetry."""
        segments, delta = self._state
        keys = value_keys(values)
        found: list[list[int]] = [[] for _ in values]
        for segment in segments:
            for which, ids in segment.find_many(keys):  # type: ignore[attr-defined]
                found[which] += ids.tolist()
        view = delta.view
        rows = view.rows[: view.count]
        for position in _delta_candidates(rows[:, 0], keys[:, 0]):
            if is_dead(view.dead, np.array([position]))[0]:
                continue
            for which in np.flatnonzero(
                (keys[:, 0] == rows[position, 0]) & (keys[:, 1] == rows[position, 1])
            ):
                found[which].append(int(view.ids[position]))
        return [[Hit(i, 0) for i in sorted(ids)] for ids in found]


def _delta_candidates(highs: Rows, wanted: Rows) -> IdArray:
    """Positions of `highs` equal to one of `wanted`: one pass over the recent
    additions whatever the number of keys (`np.isin` sorts them all first)."""
    if not highs.size:
        return np.empty(0, dtype=np.int64)
    if wanted.size == 1:
        return np.flatnonzero(highs == wanted[0])
    ordered = np.sort(wanted)
    at = np.minimum(np.searchsorted(ordered, highs), ordered.size - 1)
    return np.flatnonzero(ordered[at] == highs)
