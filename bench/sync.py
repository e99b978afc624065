"""Exchange sync throughput: a large local feed into a bank, until matchable.

    python bench/sync.py [--signals 1000000] [--batch 50000] [--database sqlite|postgresql|both]

Writes a JSON-lines list of random PDQ hashes (tagged), follows it with a
`list` exchange, and reports: the sync's signals/s into a fresh SQLite
database (data, change log and checkpoint, committed batch by batch), split
into reading the list (parsing) and applying it (checking, writing,
committing); the process's peak memory; and the time from the sync's start
until a process whose indexes were already running (and so catch up from the
change log) matches the last signal of the feed. Then the list is synced
again unchanged, and again with 1% of its lines changed: the steady state of
a followed list. Each database engine gets a fresh, empty database.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hma.assembly import build_egress

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from banks import store
from banks.exchanges.lists import ListConfig
from banks.lookup import BankIndexes
from banks.taxonomy import Taxonomy
from bench.databases import KINDS, fresh_database_url
from hashers import Signal, default_registry
from hma.db import Database, ensure_schema
from hma.exchanges import Exchanges
from hma.secrets import SecretBox
from hma.settings import load_settings


def feed_line(value: str) -> str:
    return json.dumps({"signal_type": "pdq", "value": value, "tags": ["csam"]}) + "\n"


def write_feed(path: Path, count: int, chunk: int = 100_000, seed: int = 5) -> str:
    """Writes `count` random PDQ lines a chunk at a time, so that the peak memory
    reported is the sync's, not the feed's; returns the last value written."""
    rng = np.random.default_rng(seed)
    last = ""
    with open(path, "w") as out:
        for start in range(0, count, chunk):
            rows = rng.integers(0, 256, (min(chunk, count - start), 32), dtype=np.uint8)
            values = [row.tobytes().hex() for row in rows]
            out.writelines(feed_line(value) for value in values)
            last = values[-1]
    return last


def run(kind: str, signals: int, batch: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        root = Path(folder)
        feed = root / "feed.jsonl"
        last = write_feed(feed, signals)
        url = fresh_database_url(kind, root, "hma_bench_sync")
        settings = load_settings(
            environ={}, data_dir=root / "data", database_url=url, import_folder=str(root)
        )
        database = Database(settings.resolved_database_url)
        ensure_schema(database.engine)
        registry = default_registry()
        exchanges = Exchanges.build(
            settings,
            database,
            registry,
            Taxonomy.load(),
            SecretBox("bench"),
            build_egress(settings),
        )
        with database.session() as session:
            store.create_bank(session, "followed")
            exchanges.add(
                session,
                "bench",
                "feed",
                "list",
                "followed",
                url=str(feed),
                config={"batch_size": batch},
            )
        indexes = BankIndexes(registry)  # a running process, already started
        with database.session() as session:
            indexes.refresh(session)

        started = time.perf_counter()
        report = exchanges.sync("feed")
        synced = time.perf_counter() - started
        assert report.ok and report.upserts == signals, report.to_dict()
        with database.session() as session:
            found = indexes.find(session, [Signal("pdq", last, quality=100)])
        matchable = time.perf_counter() - started
        assert [m.distance for m in found] == [0], found
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        fetch, apply = report.seconds["fetch"], report.seconds["apply"]

        started = time.perf_counter()
        again = exchanges.sync("feed")
        unchanged = time.perf_counter() - started
        assert again.ok and again.upserts == 0, again.to_dict()

        lines = feed.read_text().splitlines(keepends=True)
        changed = max(1, len(lines) // 100)
        for number in range(0, len(lines), len(lines) // changed):
            lines[number] = feed_line(f"{number:064x}")
        feed.write_text("".join(lines))
        started = time.perf_counter()
        resync = exchanges.sync("feed")
        resynced = time.perf_counter() - started
        assert resync.ok and resync.upserts >= changed, resync.to_dict()

        print(f"\n== {kind} ==")
        print(f"signals synced             {signals:>12,}")
        print(f"sync seconds               {synced:>12.1f}")
        print(f"signals/s                  {signals / synced:>12,.0f}")
        print(f"  reading the list s       {fetch:>12.1f}")
        print(f"  applying s               {apply:>12.1f}   ({signals / apply:,.0f} signals/s)")
        print(f"peak memory (MB)           {peak:>12,.0f}")
        print(
            f"until last matchable s     {matchable:>12.1f}"
            f"   (index catch-up {matchable - synced:.1f} s)"
        )
        print(f"resync, unchanged s        {unchanged:>12.2f}")
        print(f"resync, {changed:,} lines changed s {resynced:>6.1f}")
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=ListConfig.batch_size)
    parser.add_argument("--database", choices=[*KINDS, "both"], default="both")
    args = parser.parse_args()
    for kind in KINDS if args.database == "both" else (args.database,):
        run(kind, args.signals, args.batch)


if __name__ == "__main__":
    main()
