"""Indexes: exact results against brute force, live updates, snapshots, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hashers import MD5, PDQ, HexSignalType
from matchers import ExactIndex, HammingIndex, PDQIndex, VideoIndex, index_for


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


@pytest.mark.parametrize("threshold", [0, 10, 31, 40, 52, 64, 128])
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
    path = tmp_path / "pdq"
    index.save(path)
    loaded = PDQIndex.load(path)
    assert len(loaded) == count
    for i in range(count):
        assert loaded.query(hashes[i], threshold=0)[0] == (i, 0)
    probe = np.zeros(32, dtype=np.uint8)
    assert loaded.query(probe, threshold=256) == brute_force(np.arange(count), hashes, probe, 256)


def test_snapshot_keeps_tombstones_and_recent_additions(tmp_path, rng):
    hashes = random_hashes(rng, 300)
    index = PDQIndex.build(np.arange(200), hashes[:200])
    index.remove([3, 4])
    index.add(np.arange(200, 300), hashes[200:])
    index.add([5], hashes[250:251])  # replaced: id 5 now has id 250's hash
    index.save(tmp_path / "pdq")
    index.save(tmp_path / "pdq")  # saving over a snapshot replaces it
    loaded = PDQIndex.load(tmp_path / "pdq")
    assert len(loaded) == len(index) == 298
    assert loaded.query(hashes[3], 0) == []
    assert loaded.query(hashes[250], 0) == [(5, 0), (250, 0)]
    assert loaded.query(hashes[5], 0) == []
    loaded.remove([250])
    assert loaded.query(hashes[250], 0) == [(5, 0)]
    assert index.query(hashes[250], 0) == [(5, 0), (250, 0)]  # the original is untouched


def test_load_refuses_other_paths(tmp_path):
    with pytest.raises(ValueError):
        PDQIndex.load(tmp_path)
    (tmp_path / "index.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError):
        PDQIndex.load(tmp_path)


@pytest.mark.parametrize("threshold", [0, 31, 52, 100])
def test_segments_delta_and_tombstones_together_stay_exact(monkeypatch, rng, threshold):
    """Several segments (forced small), a delta and tombstones: still exactly brute force."""
    from matchers import live

    monkeypatch.setattr(live, "MAX_SEGMENT", 700)
    hashes = clustered_hashes(rng, 2500)
    ids = np.arange(2500, dtype=np.int64) * 7
    index = PDQIndex.build(ids[:2000], hashes[:2000])
    index.auto_compact = False
    assert len(index._segments) == 3
    index.add(ids[2000:], hashes[2000:])
    gone = ids[::5]
    index.remove(gone)
    keep = ~np.isin(ids, gone)
    for query in [
        flip_bits(rng, hashes[int(i)], int(rng.integers(0, 40))) for i in rng.integers(0, 2500, 20)
    ]:
        assert index.query(query, threshold) == brute_force(
            ids[keep], hashes[keep], query, threshold
        )


def test_compaction_replays_updates_made_while_it_runs(monkeypatch, rng):
    from matchers import live

    hashes = random_hashes(rng, 3000)
    index = PDQIndex.build(np.arange(1000), hashes[:1000])
    index.auto_compact = False
    index.add(np.arange(1000, 2000), hashes[1000:2000])
    index.remove([0, 1500])
    real_build = live.LiveIndex._build_segments

    def slow_build(self, ids, rows):
        # Updates arrive while the rebuild is in progress.
        index.add(np.arange(2000, 3000), hashes[2000:])
        index.remove([1, 2500])
        index.add([1500], hashes[1500:1501])
        return real_build(self, ids, rows)

    monkeypatch.setattr(live.LiveIndex, "_build_segments", slow_build)
    index.compact()
    assert index._journal is None
    assert len(index._segments) == 1 and index._delta.live == 1000  # 2000-2999 - 2500 + 1500
    expected_ids = [i for i in range(3000) if i not in (0, 1, 2500)]
    assert len(index) == len(expected_ids)
    for i in (0, 1, 2500):
        assert index.query(hashes[i], 0) == []
    for i in (2, 1500, 1999, 2000, 2999):
        assert index.query(hashes[i], 0) == [(i, 0)]


def test_a_query_sees_segments_and_delta_from_one_moment(monkeypatch, rng):
    """A compaction finishing while a query is between the segments and the delta
    must not hide what the delta held: the query keeps the pair it started with."""
    from matchers import pdq

    hashes = random_hashes(rng, 200)
    index = PDQIndex.build(np.arange(100), hashes[:100])
    index.auto_compact = False
    index.add(np.arange(100, 200), hashes[100:])
    real_query = pdq._PDQSegment.query
    swapped = []

    def query_then_compact(self, q, threshold):
        found = real_query(self, q, threshold)
        if not swapped:
            swapped.append(True)
            index.compact()  # the delta's rows move into a new segment mid-query
        return found

    monkeypatch.setattr(pdq._PDQSegment, "query", query_then_compact)
    assert index.query(hashes[150], 0) == [(150, 0)]
    assert swapped and index._delta.live == 0


def test_background_compaction_keeps_answers_exact(monkeypatch, rng):
    from matchers import live

    monkeypatch.setattr(live, "DELTA_LIMIT", 500)
    hashes = random_hashes(rng, 4000)
    index = PDQIndex.build(np.arange(1000), hashes[:1000])
    for start in range(1000, 4000, 250):
        index.add(np.arange(start, start + 250), hashes[start : start + 250])
    index.wait_for_compaction()
    index.remove(np.arange(0, 4000, 2))
    index.wait_for_compaction()
    assert len(index) == 2000
    for i in range(0, 4000, 97):
        assert index.query(hashes[i], 0) == ([] if i % 2 == 0 else [(i, 0)])


def test_live_updates_under_concurrent_queries(rng):
    import threading

    hashes = random_hashes(rng, 6000)
    index = PDQIndex.build(np.arange(2000), hashes[:2000])
    stable = hashes[:1000]  # never touched: must always be found
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for i in range(0, 1000, 50):
                    assert (i, 0) in index.query(stable[i], 0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for start in range(2000, 6000, 500):
        index.add(np.arange(start, start + 500), hashes[start : start + 500])
        index.remove(np.arange(start - 1000, start - 500))
        assert index.query(hashes[start + 10], 0) == [(start + 10, 0)]
    index.compact()
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.query(hashes[5999], 0) == [(5999, 0)]
    assert index.query(hashes[4000], 0) == []


def test_large_ids_are_kept_exactly(rng):
    hashes = random_hashes(rng, 3)
    ids = np.array([-5, 2**40, 2**63 - 1], dtype=np.int64)
    index = PDQIndex.build(ids, hashes)
    assert [index.query(h, 0) for h in hashes] == [[(int(i), 0)] for i in ids]


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


def pairs(found):
    return [[(hit.id, hit.distance) for hit in hits] for hits in found]


def test_hex_interface(rng):
    hashes = random_hashes(rng, 3)
    index = PDQIndex()
    index.add_values([10, 11, 12], [h.tobytes().hex() for h in hashes])
    assert pairs(index.lookup([hashes[1].tobytes().hex()], 0)) == [[(11, 0)]]
    with pytest.raises(ValueError):
        index.add_values([1], ["zz" * 32])


def test_exact_index(tmp_path):
    index = ExactIndex()
    index.add_values([1, 2, 3], ["aa", "bb", "aa"])
    assert pairs(index.lookup(["aa", "cc"])) == [[(1, 0), (3, 0)], []]
    index.add_values([1], ["cc"])
    assert pairs(index.lookup(["aa", "cc"])) == [[(3, 0)], [(1, 0)]]
    index.remove([3, 42])
    assert pairs(index.lookup(["aa"])) == [[]]
    assert len(index) == 2
    with pytest.raises(ValueError):
        index.add_values([1, 2], ["aa"])
    index.compact()  # now the same answers come from a segment
    assert pairs(index.lookup(["cc", "bb"])) == [[(1, 0)], [(2, 0)]]
    # Tombstones in a segment and in the recent additions hide their rows.
    index.add_values([4, 5], ["bb", "dd"])
    assert pairs(index.lookup(["bb", "dd"])) == [[(2, 0), (4, 0)], [(5, 0)]]
    index.remove([2, 5])
    assert pairs(index.lookup(["bb", "dd"])) == [[(4, 0)], []]
    index.remove([4])
    index.add_values([2], ["bb"])
    index.save(tmp_path / "exact")
    loaded = ExactIndex.load(tmp_path / "exact")
    assert pairs(loaded.lookup(["cc", "bb", "aa"])) == [[(1, 0)], [(2, 0)], []]


def test_exact_index_at_scale():
    values = [f"{i:032x}" for i in range(200_000)]
    index = ExactIndex.build(np.arange(200_000), values)
    assert pairs(index.lookup([values[123_456], "nope"])) == [[(123_456, 0)], []]
    index.add_values([7], [values[123_456]])
    assert pairs(index.lookup([values[123_456]])) == [[(7, 0), (123_456, 0)]]
    # The segments' Bloom filter never hides a stored value, and keeps out nearly all others.
    found = index.lookup(values[::97] + [f"x{i}" for i in range(5000)])
    assert all(hits for hits in found[: len(values[::97])])
    assert not any(found[len(values[::97]) :])


def test_hamming_index_for_64_bit_hashes(rng):
    values = [f"{int(v):016x}" for v in rng.integers(0, 2**63, 500)]
    index = HammingIndex()
    index.add_values(list(range(500)), values)
    near = f"{int(values[9], 16) ^ 0b1011:016x}"
    assert (9, 3) in pairs(index.lookup([near], 10))[0]
    assert pairs(index.lookup([near], 2)) == [[]]
    index.compact()
    assert (9, 3) in pairs(index.lookup([near], 10))[0]
    with pytest.raises(ValueError):
        index.add_values([1], ["abc"])


def video(frames, quality=100):
    return json.dumps([f"{f},{quality},{i:.3f}" for i, f in enumerate(frames)])


def test_video_index_matches_by_shares_of_frames(rng):
    clip = [h.tobytes().hex() for h in random_hashes(rng, 10)]
    other = [h.tobytes().hex() for h in random_hashes(rng, 10)]
    index = VideoIndex()
    index.add_values([1, 2], [video(clip + other), video(other)])
    # The query is 5 frames of video 1, slightly altered: all of them match, a third of
    # video 1's frames are matched.
    query = [
        flip_bits(rng, np.frombuffer(bytes.fromhex(f), np.uint8), 5).tobytes().hex()
        for f in clip[:5]
    ]
    [hits] = index.lookup([video(query)], 31)
    assert [(h.id, h.detail) for h in hits] == [
        (1, {"query_match_percent": 100.0, "bank_match_percent": 25.0})
    ]
    assert hits[0].distance == 5
    # Two frames of seven in common: under the 80% query share, no match.
    mixed = clip[:2] + [h.tobytes().hex() for h in random_hashes(rng, 5)]
    assert index.lookup([video(mixed)], 31) == [[]]
    # Low-quality frames are ignored on both sides.
    assert index.lookup([video(clip[:5], quality=10)], 31) == [[]]
    index.remove([1])
    assert index.lookup([video(query)], 31) == [[]]
    assert len(index) == 1


def test_index_for_picks_by_comparison():
    from hashers import PHASH, VPDQ

    assert isinstance(index_for(PDQ), PDQIndex)
    assert isinstance(index_for(MD5), ExactIndex)
    assert isinstance(index_for(PHASH), HammingIndex)
    assert isinstance(index_for(VPDQ), VideoIndex)
    with pytest.raises(ValueError):
        index_for(HexSignalType("wide", 48, comparison="hamming"))


def test_numba_caches_outside_the_package(tmp_path):
    """A cache beside the sources outlives a regular install and then shadows an editable
    one in the same environment; it goes to the user's cache folder instead."""
    import matchers

    package = Path(matchers.__file__).parent
    before = set(package.rglob("*.nbi"))
    script = (
        "from matchers import ExactIndex\n"
        "index = ExactIndex.build([1], ['a'])\n"
        "index.compact()\n"
        "assert index.lookup(['a'])[0][0].id == 1\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    assert list((tmp_path / "cache" / "hma" / "numba").rglob("*.nbi"))
    assert set(package.rglob("*.nbi")) == before


def test_keywords_are_found_across_chunks_and_overlaps_cost_no_more_than_the_text():
    """The text is searched a chunk at a time: a phrase across a chunk's edge is found,
    and nested phrases over a long repetitive text are each reported once."""
    from hashers.keywords import fold
    from matchers.keywords import CHUNK, KeywordIndex

    index = KeywordIndex()
    nested = [" ".join(["aa"] * n) for n in range(1, 61)]
    index.add_values(range(1, 61), nested)
    index.add_values([100, 101, 102], ["edge phrase here", "near the end", "absent words"])
    filler = "ab" * ((CHUNK - 8) // 2)  # folding keeps it whole: no letter repeats
    text = f"{filler} edge phrase here " + "aa " * 300_000 + " near the end"
    at = fold(text).index(" edge phrase here ")
    assert at < CHUNK < at + len(" edge phrase here ")  # it straddles the first edge
    [hits] = index.lookup([text])
    assert [hit.id for hit in hits] == [*range(1, 61), 100, 101]
    assert {hit.found for hit in hits if hit.id >= 100} == {"edge phrase here", "near the end"}
