"""Multi-index hashing over 256-bit hashes: the compiled kernels behind PDQIndex.

The hash is cut into 11 chunks (three of 24 bits, eight of 23). If two hashes
are within distance t, the distances of their chunks sum to at most t, so for
radii r_c with sum(r_c + 1) > t at least one chunk c is within r_c of the
query's chunk (pigeonhole). Probing every chunk's table with its radius and
verifying candidates with the full distance is therefore exact: nothing within
t is missed, and nothing beyond it is returned.

A table keeps, for every hash, one uint32 entry, `position << 8 | low bits`,
sorted by the chunk's value, and a directory of offsets by the chunk's top
`high` bits. A probe jumps to a directory bucket and scans its few entries,
comparing the low bits from the entry itself, so only true chunk neighbours
cost a random read of the full hash. Memory: 32 bytes of hash plus 44 bytes
of entries per hash, plus the directories (~4 bytes per hash at 10M).

Queries run in phases (bucket bounds, bucket scans, verification), prefetching
a few dozen steps ahead in each, so that the CPU overlaps the random reads
that dominate the cost instead of waiting for them one by one.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import numpy.typing as npt
from numba import njit

from matchers.prefetch import prefetch

CHUNK_LENGTHS = np.array([24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23], dtype=np.int64)
CHUNK_STARTS = np.concatenate([[0], np.cumsum(CHUNK_LENGTHS)[:-1]]).astype(np.int64)
CHUNKS = len(CHUNK_LENGTHS)
#: Entries pack a position into 24 bits, so a segment holds at most this many hashes.
MAX_SEGMENT = 1 << 24
LOW_BITS_MAX = 8
#: Largest per-chunk probe radius; thresholds that need more are served by a scan.
MAX_RADIUS = 5
PREFETCH_AHEAD = 32

Words = npt.NDArray[np.uint64]
_ONE = np.uint64(1)


def directory_bits(count: int) -> npt.NDArray[np.int64]:
    """Top bits indexed per chunk: about log2(count) - 3, so buckets hold ~8 entries."""
    wanted = max(1, round(np.log2(max(count, 2))) - 3)
    return np.array(
        [min(length, max(length - LOW_BITS_MAX, wanted)) for length in CHUNK_LENGTHS],
        dtype=np.int64,
    )


def directory_base(highs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    base = np.zeros(CHUNKS + 1, dtype=np.int64)
    base[1:] = np.cumsum((np.int64(1) << highs) + 1)
    return base


def radii_for(threshold: int) -> npt.NDArray[np.int64]:
    """Per-chunk radii with sum(r + 1) == threshold + 1; longer chunks get the larger ones."""
    base, extra = divmod(threshold + 1, CHUNKS)
    radii = np.full(CHUNKS, base - 1, dtype=np.int64)
    radii[:extra] = base  # chunk lengths are sorted longest first
    return radii


def masks_by_weight(bits: int, radius: int) -> npt.NDArray[np.uint32]:
    """Every `bits`-bit mask of weight <= radius, lightest first (so a ball is a prefix)."""
    masks = [0]
    for weight in range(1, radius + 1):
        masks.extend(sum(1 << b for b in chosen) for chosen in combinations(range(bits), weight))
    return np.array(masks, dtype=np.uint32)


def ball_sizes(bits: int, radius: int) -> npt.NDArray[np.int64]:
    return np.array([sum(comb(bits, k) for k in range(r + 1)) for r in range(radius + 1)])


class ProbePlan:
    """The masks a table layout needs, prepared once per index."""

    def __init__(self, highs: npt.NDArray[np.int64]) -> None:
        widest = int(ball_sizes(int(highs.max()), MAX_RADIUS)[-1])
        self.high_masks = np.zeros((CHUNKS, widest), dtype=np.uint32)
        self.high_balls = np.zeros((CHUNKS, MAX_RADIUS + 1), dtype=np.int64)
        for c, high in enumerate(highs):
            masks = masks_by_weight(int(high), MAX_RADIUS)
            self.high_masks[c, : len(masks)] = masks
            self.high_balls[c] = ball_sizes(int(high), MAX_RADIUS)
        low_widest = int(ball_sizes(LOW_BITS_MAX, MAX_RADIUS)[-1])
        self.low_masks = np.zeros((LOW_BITS_MAX + 1, low_widest), dtype=np.uint32)
        self.low_balls = np.zeros((LOW_BITS_MAX + 1, MAX_RADIUS + 1), dtype=np.int64)
        for bits in range(LOW_BITS_MAX + 1):
            masks = masks_by_weight(bits, MAX_RADIUS)
            self.low_masks[bits, : len(masks)] = masks
            self.low_balls[bits] = ball_sizes(bits, MAX_RADIUS)

    def expected_scan(
        self, highs: npt.NDArray[np.int64], radii: npt.NDArray[np.int64], count: int
    ) -> float:
        """Entries a probe would scan, on uniform data."""
        total = 0.0
        for c in range(CHUNKS):
            if radii[c] >= 0:
                total += self.high_balls[c, radii[c]] * count / float(1 << int(highs[c]))
        return total


def hash_words(hashes: npt.NDArray[np.uint8]) -> Words:
    """(N, 32) hash bytes as (N, 4) uint64 words, most significant byte first."""
    return np.ascontiguousarray(hashes).view(">u8").astype(np.uint64).reshape(-1, 4)


def words_bytes(words: Words) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(words.astype(">u8")).view(np.uint8).reshape(-1, 32)


@njit(inline="always", cache=True)
def _popcount(x):  # type: ignore[no-untyped-def]
    """Set bits of a uint64, as int64 (mixing signed and unsigned would go through floats)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(inline="always", cache=True)
def _distance(words, p, q0, q1, q2, q3):  # type: ignore[no-untyped-def]
    return (
        _popcount(words[p, 0] ^ q0)
        + _popcount(words[p, 1] ^ q1)
        + _popcount(words[p, 2] ^ q2)
        + _popcount(words[p, 3] ^ q3)
    )


@njit(inline="always", cache=True)
def _chunk(w0, w1, w2, w3, start, length):  # type: ignore[no-untyped-def]
    word = start // 64
    offset = start % 64
    first = w0 if word == 0 else (w1 if word == 1 else (w2 if word == 2 else w3))
    if offset + length <= 64:
        value = first >> np.uint64(64 - offset - length)
    else:
        second = w1 if word == 0 else (w2 if word == 1 else w3)
        value = (first << np.uint64(offset + length - 64)) | (
            second >> np.uint64(128 - offset - length)
        )
    return np.uint32(value & np.uint64((1 << length) - 1))


@njit(inline="always", cache=True)
def _is_dead(dead, p):  # type: ignore[no-untyped-def]
    return (dead[p >> 3] >> (p & 7)) & 1


def build_tables(
    words: Words, highs: npt.NDArray[np.int64], dir_base: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """Entries and directories for every chunk.

    The arrays are allocated by numpy, which asks the kernel for transparent
    huge pages on large allocations; random probes into 4 KB pages would miss
    the TLB nearly every time.
    """
    entries = np.empty((CHUNKS, len(words)), dtype=np.uint32)
    dirs = np.zeros(int(dir_base[-1]), dtype=np.uint32)
    _fill_tables(words, CHUNK_STARTS, CHUNK_LENGTHS, highs, dir_base, entries, dirs)
    return entries, dirs


@njit(cache=True, nogil=True)
def _fill_tables(words, starts, lengths, highs, dir_base, entries, dirs):  # type: ignore[no-untyped-def]
    """One counting sort per chunk."""
    n = words.shape[0]
    chunks = starts.shape[0]
    keys = np.empty(n, dtype=np.uint32)
    for c in range(chunks):
        low_bits = lengths[c] - highs[c]
        buckets = 1 << highs[c]
        low_mask = np.uint32((1 << low_bits) - 1)
        counts = np.zeros(buckets + 1, dtype=np.int64)
        for i in range(n):
            key = _chunk(words[i, 0], words[i, 1], words[i, 2], words[i, 3], starts[c], lengths[c])
            keys[i] = key
            counts[(key >> low_bits) + 1] += 1
        for b in range(buckets):
            counts[b + 1] += counts[b]
        for b in range(buckets + 1):
            dirs[dir_base[c] + b] = counts[b]
        # Within a bucket, entries end up in position order: stable and cache-friendly.
        for i in range(n):
            key = keys[i]
            bucket = key >> low_bits
            entries[c, counts[bucket]] = (np.uint32(i) << np.uint32(8)) | (key & low_mask)
            counts[bucket] += 1


@njit(cache=True, nogil=True)
def probe(  # type: ignore[no-untyped-def]
    words,
    entries,
    dirs,
    dir_base,
    dead,
    starts,
    lengths,
    highs,
    radii,
    high_masks,
    high_balls,
    low_masks,
    low_balls,
    q,
    threshold,
):
    """Positions and distances of every live hash within `threshold` of q (4 words)."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    chunks = starts.shape[0]

    # Phase 1: which buckets to scan, with the low-bit values acceptable in each.
    total_buckets = 0
    for c in range(chunks):
        if radii[c] >= 0:
            total_buckets += high_balls[c, radii[c]]
    bucket_at = np.empty(total_buckets, dtype=np.int64)
    bucket_chunk = np.empty(total_buckets, dtype=np.int64)
    bucket_room = np.empty(total_buckets, dtype=np.int64)
    accept = np.zeros((chunks, MAX_RADIUS + 1, 4), dtype=np.uint64)
    count = 0
    for c in range(chunks):
        r = radii[c]
        if r < 0:
            continue
        low_bits = lengths[c] - highs[c]
        key = _chunk(q0, q1, q2, q3, starts[c], lengths[c])
        key_high = key >> low_bits
        key_low = key & np.uint32((1 << low_bits) - 1)
        for room in range(r + 1):
            for j in range(low_balls[low_bits, room]):
                value = key_low ^ low_masks[low_bits, j]
                accept[c, room, value >> 6] |= _ONE << np.uint64(value & 63)
        for j in range(high_balls[c, r]):
            mask = high_masks[c, j]
            slot = dir_base[c] + (key_high ^ mask)
            prefetch(dirs, slot)
            bucket_at[count] = slot
            bucket_chunk[count] = c
            bucket_room[count] = r - _popcount(np.uint64(mask))
            count += 1

    # Phase 2: bucket bounds, then scans that keep entries whose low bits fit.
    bucket_lo = np.empty(count, dtype=np.int64)
    bucket_hi = np.empty(count, dtype=np.int64)
    scan = 0
    for i in range(count):
        bucket_lo[i] = dirs[bucket_at[i]]
        bucket_hi[i] = dirs[bucket_at[i] + 1]
        scan += bucket_hi[i] - bucket_lo[i]
    candidates = np.empty(scan, dtype=np.int64)
    found = 0
    for i in range(min(PREFETCH_AHEAD, count)):
        prefetch(entries[bucket_chunk[i]], bucket_lo[i])
    for i in range(count):
        ahead = i + PREFETCH_AHEAD
        if ahead < count:
            prefetch(entries[bucket_chunk[ahead]], bucket_lo[ahead])
        c = bucket_chunk[i]
        room = bucket_room[i]
        a0, a1, a2, a3 = (
            accept[c, room, 0],
            accept[c, room, 1],
            accept[c, room, 2],
            accept[c, room, 3],
        )
        table = entries[c]
        for k in range(bucket_lo[i], bucket_hi[i]):
            entry = table[k]
            low = entry & np.uint32(255)
            word = low >> 6
            bits = a0 if word == 0 else (a1 if word == 1 else (a2 if word == 2 else a3))
            if (bits >> np.uint64(low & 63)) & _ONE:
                candidates[found] = (np.int64(entry >> np.uint32(8)) << 5) | c
                found += 1

    # Phase 3: verify with the full distance; report each hash from its first chunk only.
    positions = np.empty(found, dtype=np.int64)
    distances = np.empty(found, dtype=np.int64)
    hits = 0
    for i in range(min(PREFETCH_AHEAD, found)):
        prefetch(words, candidates[i] >> 5)
    for i in range(found):
        ahead = i + PREFETCH_AHEAD
        if ahead < found:
            prefetch(words, candidates[ahead] >> 5)
        p = candidates[i] >> 5
        c = candidates[i] & 31
        d = _distance(words, p, q0, q1, q2, q3)
        if d > threshold or _is_dead(dead, p):
            continue
        seen = False
        for earlier in range(c):
            if radii[earlier] < 0:
                continue
            mine = _chunk(
                words[p, 0],
                words[p, 1],
                words[p, 2],
                words[p, 3],
                starts[earlier],
                lengths[earlier],
            )
            theirs = _chunk(q0, q1, q2, q3, starts[earlier], lengths[earlier])
            if _popcount(np.uint64(mine ^ theirs)) <= radii[earlier]:
                seen = True
                break
        if not seen:
            positions[hits] = p
            distances[hits] = d
            hits += 1
    return positions[:hits], distances[:hits]


@njit(cache=True, nogil=True)
def scan(words, count, dead, q, threshold):  # type: ignore[no-untyped-def]
    """Linear scan of the first `count` hashes: the delta buffer, and very high thresholds."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    positions = np.empty(count, dtype=np.int64)
    distances = np.empty(count, dtype=np.int64)
    hits = 0
    for p in range(count):
        d = _distance(words, p, q0, q1, q2, q3)
        if d <= threshold and not _is_dead(dead, p):
            positions[hits] = p
            distances[hits] = d
            hits += 1
    return positions[:hits], distances[:hits]
