"""Exact-match index for digests, URLs and other values compared for equality.

Each value is stored as a 128-bit BLAKE2b key (two uint64 words): the same
size for an MD5, a SHA-256 or a long URL, and collision-free in practice
(a collision among ten million keys has odds around 10^-25). Segments keep
their rows in id order, as every live index does, plus a permutation in key
order to look keys up by binary search, plus a Bloom filter of one 64-bit word
per four values: most lookups miss (a URL's thirty expressions, an upload's
MD5), and the filter turns each miss into one memory read where the binary
search over a large segment takes dozens. About 34 bytes per value in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from numba import njit

from matchers.base import Hit
from matchers.live import (
    Bits,
    IdArray,
    LiveIndex,
    Rows,
    Segment,
    as_ids,
    dead_bits,
    narrow_ids,
)


def value_keys(values: Sequence[str]) -> Rows:
    """(N, 2) uint64 keys of string values."""
    raw = b"".join([blake2b(v.encode(), digest_size=16).digest() for v in values])
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 2)


#: Values per 64-bit filter word at most, and bits set per value (under 1% false positives).
VALUES_PER_WORD = 4
BITS_PER_VALUE = 4


def _filter_words(count: int) -> int:
    """Filter words for `count` values: a power of two, so a key picks one by a mask."""
    return 1 << max(0, (max(count, 1) // VALUES_PER_WORD - 1).bit_length())


def _bloom_masks() -> npt.NDArray[np.uint64]:
    """A bit mask for each 16-bit pattern, its bits drawn from a multiplicative hash of
    the pattern: a key's mask is then one table read (on arrays of thirty keys, every
    numpy call counts)."""
    mixed = np.arange(1, (1 << 16) + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    masks = np.zeros(1 << 16, dtype=np.uint64)
    for field in range(BITS_PER_VALUE):
        shift = np.uint64(64 - 6 * (field + 1))
        masks |= np.left_shift(np.uint64(1), (mixed >> shift) & np.uint64(63))
    return masks


_MASKS = _bloom_masks()


def _bit(bits: Bits, position: int) -> bool:
    """One tombstone, read without numpy's per-call cost (`is_dead` for many)."""
    return bool((int(bits[position >> 3]) >> (position & 7)) & 1)


class _ExactSegment(Segment):
    structure = ("by_key", "sorted_high", "bloom")

    def __init__(
        self,
        ids: npt.NDArray[Any],
        rows: Rows,
        dead: Bits,
        by_key: npt.NDArray[Any],
        sorted_high: npt.NDArray[np.uint64],
        bloom: npt.NDArray[np.uint64],
    ) -> None:
        super().__init__(ids, rows, dead)
        self.by_key = by_key
        self.sorted_high = sorted_high
        self.bloom = bloom

    @classmethod
    def build(cls, ids: IdArray, rows: Rows) -> Self:
        by_key = np.lexsort((rows[:, 1], rows[:, 0])).astype(np.uint32)
        words = np.zeros(_filter_words(len(rows)), dtype=np.uint64)
        masks = _MASKS[rows[:, 0] & np.uint64(0xFFFF)]
        np.bitwise_or.at(words, rows[:, 1] & np.uint64(len(words) - 1), masks)
        return cls(
            narrow_ids(ids), rows, dead_bits(len(ids)), by_key, rows[by_key, 0].copy(), words
        )

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], meta: dict[str, Any]) -> Self:
        return cls(
            arrays["ids"],
            arrays["rows"],
            arrays["dead"],
            arrays["by_key"],
            arrays["sorted_high"],
            arrays["bloom"],
        )

    def find_many(self, keys: Rows) -> list[tuple[int, list[int]]]:
        """(position in `keys`, ids) for each key stored here, in one compiled pass:
        on a URL's thirty keys, numpy's cost per call outweighed the work."""
        which, found = _find(
            keys, self.bloom, _MASKS, self.sorted_high, self.by_key, self.rows, self.dead, self.ids
        )
        out: dict[int, list[int]] = {}
        for position, signal_id in zip(which.tolist(), found.tolist(), strict=True):
            out.setdefault(position, []).append(signal_id)
        return list(out.items())


@njit(cache=True)
def _find(
    keys: Rows,
    bloom: npt.NDArray[np.uint64],
    masks: npt.NDArray[np.uint64],
    sorted_high: npt.NDArray[np.uint64],
    by_key: npt.NDArray[Any],
    rows: Rows,
    dead: Bits,
    ids: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Keys' positions and the ids of the live rows equal to them: the Bloom filter,
    then a binary search of the high words and a check of the low ones."""
    which = np.empty(0, np.int64)
    found = np.empty(0, np.int64)
    words = np.uint64(len(bloom) - 1)
    for k in range(keys.shape[0]):
        high, low = keys[k, 0], keys[k, 1]
        mask = masks[high & np.uint64(0xFFFF)]
        if bloom[low & words] & mask != mask:
            continue
        at = np.searchsorted(sorted_high, high)
        while at < len(sorted_high) and sorted_high[at] == high:
            position = np.int64(by_key[at])
            if rows[position, 1] == low and not (dead[position >> 3] >> (position & 7)) & 1:
                which = np.append(which, k)
                found = np.append(found, np.int64(ids[position]))
            at += 1
    return which, found


class ExactIndex(LiveIndex):
    """Value -> ids for equality matches; thread-safe, with live updates."""

    keyed_delta = True

    segment_type = _ExactSegment
    width: ClassVar[int] = 2
    snapshot_format = "hma-exact-index/2"

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
                found[which] += ids
        view = delta.view
        if view.count and delta.by_first:
            for which, (high, low) in enumerate(keys.tolist()):
                for position in delta.by_first.get(high, ()):
                    if (
                        position < view.count
                        and view.rows[position, 1] == low
                        and not _bit(view.dead, position)
                    ):
                        found[which].append(int(view.ids[position]))
        return [[Hit(i, 0) for i in sorted(ids)] if ids else [] for ids in found]
