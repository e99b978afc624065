"""Hamming-distance search by linear scan, for 64-bit hashes.

For the optional 64-bit perceptual hashes (pHash, dHash): a scan over a
million 64-bit hashes takes about a millisecond, so a structure like PDQ's
multi-index tables would not earn its memory here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numba import njit

from matchers.base import Hit
from matchers.live import IdArray, LiveIndex, Rows, Segment, as_ids, dead_bits, narrow_ids
from matchers.mih import _is_dead, _popcount


@njit(cache=True, nogil=True)
def scan_rows(rows, count, dead, q, threshold):  # type: ignore[no-untyped-def]
    """Positions and distances of live rows within `threshold` of q (any word count)."""
    positions = np.empty(count, dtype=np.int64)
    distances = np.empty(count, dtype=np.int64)
    hits = 0
    for p in range(count):
        d = 0
        for w in range(q.shape[0]):
            d += _popcount(rows[p, w] ^ q[w])
        if d <= threshold and not _is_dead(dead, p):
            positions[hits] = p
            distances[hits] = d
            hits += 1
    return positions[:hits], distances[:hits]


class _ScanSegment(Segment):
    @classmethod
    def build(cls, ids: IdArray, rows: Rows) -> Self:
        return cls(narrow_ids(ids), rows, dead_bits(len(ids)))

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], meta: dict[str, Any]) -> Self:
        return cls(arrays["ids"], arrays["rows"], arrays["dead"])


def hex_rows(values: Sequence[str], words: int) -> Rows:
    """Fixed-length hex strings as (N, words) uint64, most significant first."""
    raw = b"".join(bytes.fromhex(v) for v in values)
    if len(raw) != 8 * words * len(values):
        raise ValueError(f"values must be {16 * words} hexadecimal digits each")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, words)


class HammingIndex(LiveIndex):
    """64-bit hex hashes searched by linear scan; thread-safe, with live updates."""

    segment_type = _ScanSegment
    width: ClassVar[int] = 1
    bits: ClassVar[int] = 64
    snapshot_format = "hma-hamming64-index/1"

    def add_values(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.add_rows(as_ids(ids), hex_rows(values, self.width))

    def lookup(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        results = []
        segments, delta = self._state
        view = delta.view
        for q in hex_rows(values, self.width):
            found = [
                (s.ids[p].astype(np.int64), d)
                for s in segments
                for p, d in [scan_rows(s.rows, len(s.ids), s.dead, q, threshold)]
            ]
            positions, distances = scan_rows(view.rows, view.count, view.dead, q, threshold)
            found.append((view.ids[positions], distances))
            ids = np.concatenate([f[0] for f in found])
            dist = np.concatenate([f[1] for f in found])
            order = np.lexsort((ids, dist))
            results.append(
                [Hit(int(i), int(d)) for i, d in zip(ids[order], dist[order], strict=True)]
            )
        return results
