"""Indexes: exact results against brute force, live updates, snapshots, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hashers import MD5, PDQ, HexSignalType
from matchers import ExactIndex, PDQIndex, index_for


def brute_force(ids, hashes, query, threshold):
    distances = np.unpackbits(hashes ^ query, axis=1).sum(axis=1)
    found = [(int(i), int(d)) for i, d in zip(ids, distances, strict=True) if d <= threshold]
    return sorted(found, key=lambda hit: (hit[1], hit[0]))


def flip_bits(rng, hash32, count):
    bits = np.unpackbits(hash32)
    positions = rng.choice(256, size=count, replace=False)
    bits[positions] ^= 1
    return np.packbits(bits)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


def random_hashes(rng, n):
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered_hashes(rng, n, centres=5):
    """Many variants of a few images, as real banks hold."""
    base = random_hashes(rng, centres)
    return np.stack([flip_bits(rng, base[i % centres], int(rng.integers(0, 40))) for i in range(n)])


@pytest.mark.parametrize("threshold", [0, 10, 31, 52])
@pytest.mark.parametrize("shape", ["random", "clustered"])
def test_query_is_exact(rng, threshold, shape):
    hashes = random_hashes(rng, 3000) if shape == "random" else clustered_hashes(rng, 3000)
    ids = np.arange(100, 3100, dtype=np.int64)
    index = PDQIndex.build(ids, hashes)
    queries = [
        flip_bits(rng, hashes[int(rng.integers(0, 3000))], int(rng.integers(0, 40)))
        for _ in range(25)
    ]
    queries.append(random_hashes(rng, 1)[0])
    for query in queries:
        assert index.query(query, threshold=threshold) == brute_force(ids, hashes, query, threshold)
    assert index.query_many(np.stack(queries), threshold) == [
        brute_force(ids, hashes, q, threshold) for q in queries
    ]


def test_planted_near_duplicates_are_found(rng):
    hashes = random_hashes(rng, 5000)
    index = PDQIndex.build(np.arange(5000), hashes)
    for flipped in range(0, 32):
        query = flip_bits(rng, hashes[flipped], flipped)
        assert (flipped, flipped) in index.query(query, threshold=31)


def test_add_replace_and_remove_are_visible_to_the_next_query(rng):
    hashes = random_hashes(rng, 4)
    index = PDQIndex.build([1, 2], hashes[:2])
    assert index.query(hashes[2]) == []
    index.add([3], hashes[2:3])
    assert index.query(hashes[2]) == [(3, 0)]
    index.add([3], hashes[3:4])  # same id, new hash: replaced
    assert index.query(hashes[2]) == []
    assert index.query(hashes[3]) == [(3, 0)]
    assert len(index) == 3
    index.remove([1, 99])
    assert index.query(hashes[0]) == []
    assert len(index) == 2


def test_repeated_ids_in_one_add_keep_the_last(rng):
    hashes = random_hashes(rng, 2)
    index = PDQIndex.build([7, 7], hashes)
    assert len(index) == 1
    assert index.query(hashes[1]) == [(7, 0)]


@pytest.mark.parametrize("count", [0, 1, 500])
def test_snapshot_round_trip(tmp_path, rng, count):
    hashes = random_hashes(rng, count)
    index = PDQIndex.build(np.arange(count), hashes)
    path = tmp_path / "pdq.npy"
    index.save(path)
    loaded = PDQIndex.load(path)
    assert len(loaded) == count
    for i in range(count):
        assert loaded.query(hashes[i], threshold=0)[0] == (i, 0)
    assert loaded.query(np.zeros(32, dtype=np.uint8), threshold=256) == (
        brute_force(np.arange(count), hashes, np.zeros(32, dtype=np.uint8), 256)
    )


def test_load_refuses_other_files(tmp_path):
    path = tmp_path / "other.npy"
    np.save(path, np.arange(10))
    with pytest.raises(ValueError):
        PDQIndex.load(path)


@pytest.mark.parametrize(
    "query",
    [b"short", np.zeros(31, dtype=np.uint8), np.zeros(32, dtype=np.int64), "f" * 64],
)
def test_malformed_queries_are_rejected(query):
    index = PDQIndex()
    with pytest.raises(ValueError):
        index.query(query)


@pytest.mark.parametrize("threshold", [-1, 257, 3.5])
def test_bad_thresholds_are_rejected(threshold):
    with pytest.raises(ValueError):
        PDQIndex().query(bytes(32), threshold=threshold)


def test_malformed_builds_are_rejected(rng):
    with pytest.raises(ValueError):
        PDQIndex.build([1, 2], random_hashes(rng, 3))
    with pytest.raises(ValueError):
        PDQIndex.build([1], np.zeros((1, 16), dtype=np.uint8))
    with pytest.raises(ValueError):
        PDQIndex.build([1.5], random_hashes(rng, 1))


def test_hex_interface(rng):
    hashes = random_hashes(rng, 3)
    index = PDQIndex()
    index.add_values([10, 11, 12], [h.tobytes().hex() for h in hashes])
    assert index.lookup([hashes[1].tobytes().hex()], 0) == [[(11, 0)]]
    with pytest.raises(ValueError):
        index.add_values([1], ["zz" * 32])


def test_exact_index():
    index = ExactIndex()
    index.add_values([1, 2, 3], ["aa", "bb", "aa"])
    assert index.lookup(["aa", "cc"]) == [[(1, 0), (3, 0)], []]
    index.add_values([1], ["cc"])
    assert index.lookup(["aa", "cc"]) == [[(3, 0)], [(1, 0)]]
    index.remove([3, 42])
    assert index.lookup(["aa"]) == [[]]
    assert len(index) == 2
    with pytest.raises(ValueError):
        index.add_values([1, 2], ["aa"])


def test_index_for_picks_by_comparison():
    assert isinstance(index_for(PDQ), PDQIndex)
    assert isinstance(index_for(MD5), ExactIndex)
    with pytest.raises(ValueError):
        index_for(HexSignalType("phash", 16, comparison="hamming"))
