"""PDQ matching at scale: ours next to threatexchange's PDQIndex and faiss brute force.

    python bench/matching.py --n 1000000 [--queries 1000] [--shapes uniform,clustered]
                             [--impls ours,threatexchange,faiss] [--json]

For each data shape, every implementation runs in its own process on the same
generated data (same seed), so that memory figures are its own:

* uniform: N random hashes;
* clustered: half the hashes are variants (up to 40 bits flipped) of N/1000
  base images, as real banks hold many copies of one picture; half are random.

Queries are stored hashes with 0 to 31 bits flipped (uniformly), half of them
drawn from the clusters in the clustered shape; recall is the share of
queries whose source hash is returned at threshold 31. Reported per
implementation: build seconds, resident bytes per hash (after the caller's
input is dropped) and peak memory, query p50/p99 and queries/s on one thread,
recall, the time to add 10,000 hashes (then visible to a query) and to remove
them, and snapshot save and load seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

THRESHOLD = 31
UPDATES = 10_000


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flip_rows(rng: np.random.Generator, rows: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Copies of `rows` with exactly flips[i] distinct random bits flipped in row i."""
    bits = np.unpackbits(rows, axis=1)
    for i, count in enumerate(flips):
        bits[i, rng.choice(256, int(count), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def make_data(n: int, shape: str, queries: int, seed: int = 20261122):
    """Hashes (n, 32), query hashes, and the stored row each query was made from."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    clustered = 0
    if shape == "clustered":
        clustered = n // 2
        centres = hashes[: max(1, n // 1000)].copy()
        owner = rng.integers(0, len(centres), clustered)
        for start in range(0, clustered, 1_000_000):
            stop = min(clustered, start + 1_000_000)
            flip_share = rng.uniform(0, 40 / 256, stop - start)[:, None]
            masks = np.packbits(rng.random((stop - start, 256)) < flip_share, axis=1)
            hashes[start:stop] = centres[owner[start:stop]] ^ masks
    sources = rng.integers(0, n, queries)
    if clustered:
        sources[: queries // 2] = rng.integers(0, clustered, queries // 2)
    probes = flip_rows(rng, hashes[sources], rng.integers(0, THRESHOLD + 1, queries))
    extra = rng.integers(0, 256, size=(UPDATES, 32), dtype=np.uint8)
    return hashes, probes, sources, extra


class Ours:
    name = "ours"

    def __init__(self) -> None:
        from matchers import PDQIndex

        self.cls = PDQIndex
        warm = PDQIndex.build(np.arange(1000), np.zeros((1000, 32), np.uint8))  # compile
        warm.query(np.zeros(32, np.uint8))

    def build(self, ids, hashes):
        self.index = self.cls.build(ids, hashes)
        self.index.auto_compact = False

    def query(self, probe):
        return [i for i, _ in self.index.query(probe, THRESHOLD)]

    def add(self, ids, hashes):
        self.index.add(ids, hashes)

    def remove(self, ids):
        self.index.remove(ids)
        return True

    def save_load(self, folder: Path):
        started = time.perf_counter()
        self.index.save(folder / "ours")
        saved = time.perf_counter() - started
        started = time.perf_counter()
        self.cls.load(folder / "ours")
        return saved, time.perf_counter() - started


class Threatexchange:
    name = "threatexchange"

    def __init__(self) -> None:
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex

        self.cls = PDQIndex

    def build(self, ids, hashes):
        entries = [(h.tobytes().hex(), int(i)) for i, h in zip(ids, hashes, strict=True)]
        self.index = self.cls(entries)

    def query(self, probe):
        return [match.metadata for match in self.index.query(probe.tobytes().hex())]

    def add(self, ids, hashes):
        self.index.add_all((h.tobytes().hex(), int(i)) for i, h in zip(ids, hashes, strict=True))

    def remove(self, ids):
        return False  # not supported: HMA rebuilds the whole index after any change

    def save_load(self, folder: Path):
        started = time.perf_counter()
        with open(folder / "te.pickle", "wb") as out:
            pickle.dump(self.index, out, protocol=pickle.HIGHEST_PROTOCOL)
        saved = time.perf_counter() - started
        started = time.perf_counter()
        with open(folder / "te.pickle", "rb") as source:
            pickle.load(source)
        return saved, time.perf_counter() - started


class FaissFlat:
    name = "faiss-flat"

    def __init__(self) -> None:
        import faiss

        self.faiss = faiss

    def build(self, ids, hashes):
        self.index = self.faiss.IndexBinaryIDMap2(self.faiss.IndexBinaryFlat(256))
        self.index.add_with_ids(hashes, ids.astype(np.int64))

    def query(self, probe):
        # range_search returns distances strictly under the radius.
        _, _, labels = self.index.range_search(probe.reshape(1, 32), THRESHOLD + 1)
        return labels.tolist()

    def add(self, ids, hashes):
        self.index.add_with_ids(hashes, ids.astype(np.int64))

    def remove(self, ids):
        self.index.remove_ids(ids.astype(np.int64))
        return True

    def save_load(self, folder: Path):
        started = time.perf_counter()
        self.faiss.write_index_binary(self.index, str(folder / "flat.faiss"))
        saved = time.perf_counter() - started
        started = time.perf_counter()
        self.faiss.read_index_binary(str(folder / "flat.faiss"))
        return saved, time.perf_counter() - started


IMPLEMENTATIONS = {"ours": Ours, "threatexchange": Threatexchange, "faiss": FaissFlat}


def run_worker(impl: str, n: int, shape: str, queries: int) -> dict:
    subject = IMPLEMENTATIONS[impl]()
    gc.collect()
    baseline = resident_bytes()
    hashes, probes, sources, extra = make_data(n, shape, queries)
    ids = np.arange(n, dtype=np.int64)
    started = time.perf_counter()
    subject.build(ids, hashes)
    build = time.perf_counter() - started
    del hashes
    gc.collect()
    index_bytes = resident_bytes() - baseline - probes.nbytes - extra.nbytes - sources.nbytes

    subject.query(probes[0])
    latencies, found = [], 0
    for probe, source in zip(probes, sources, strict=True):
        started = time.perf_counter_ns()
        result = subject.query(probe)
        latencies.append(time.perf_counter_ns() - started)
        found += int(source) in result
    lat_ms = np.array(latencies) / 1e6

    new_ids = np.arange(n, n + UPDATES, dtype=np.int64)
    started = time.perf_counter()
    subject.add(new_ids, extra)
    added = time.perf_counter() - started
    assert n + 17 in subject.query(extra[17]), "an added hash must be found by the next query"
    started = time.perf_counter()
    removable = subject.remove(new_ids)
    removed = time.perf_counter() - started
    if removable:
        assert n + 17 not in subject.query(extra[17])

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        saved, loaded = subject.save_load(Path(folder))
    return {
        "impl": subject.name,
        "shape": shape,
        "n": n,
        "build_s": build,
        "bytes_per_hash": index_bytes / n,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "qps": len(lat_ms) / (lat_ms.sum() / 1000),
        "recall": found / len(probes),
        "add_10k_s": added,
        "remove_10k_s": removed if removable else None,
        "save_s": saved,
        "load_s": loaded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--shapes", default="uniform,clustered")
    parser.add_argument("--impls", default="ours,threatexchange,faiss")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, shape = args.worker.split(":")
        print(json.dumps(run_worker(impl, args.n, shape, args.queries)))
        return
    rows = []
    for shape in args.shapes.split(","):
        for impl in args.impls.split(","):
            print(f"running {impl} on {args.n:,} {shape} hashes...", file=sys.stderr, flush=True)
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    f"{impl}:{shape}",
                    "--n",
                    str(args.n),
                    "--queries",
                    str(args.queries),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                raise SystemExit(f"{impl} failed on {shape} data")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'data':>10} {'index':>15} {'build s':>8} {'B/hash':>7} {'peak GB':>8}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'q/s':>7} {'recall':>7} {'add 10k s':>10}"
        f" {'rm 10k s':>9} {'save s':>7} {'load s':>7}"
    )
    for r in rows:
        removed = "rebuild" if r["remove_10k_s"] is None else f"{r['remove_10k_s']:.3f}"
        print(
            f"{r['shape']:>10} {r['impl']:>15} {r['build_s']:8.1f} {r['bytes_per_hash']:7.0f}"
            f" {r['peak_gb']:8.2f} {r['p50_ms']:7.3f} {r['p99_ms']:7.3f} {r['qps']:7.0f}"
            f" {r['recall']:7.3f} {r['add_10k_s']:10.3f} {removed:>9} {r['save_s']:7.2f}"
            f" {r['load_s']:7.2f}"
        )


if __name__ == "__main__":
    main()
