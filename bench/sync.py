"""Exchange sync throughput: a large local feed into a SQLite bank, until matchable.

    python bench/sync.py [--signals 1000000] [--batch 50000]

Writes a JSON-lines list of random PDQ hashes (tagged), follows it with a
`list` exchange, and reports: the sync's signals/s into a fresh SQLite
database (data, change log and checkpoint, committed batch by batch), split
into reading the list (parsing) and applying it (checking, writing,
committing); the process's peak memory; and the time from the sync's start
until a process whose indexes were already running (and so catch up from the
change log) matches the last signal of the feed. Then one line of the list
changes and the list is synced again: the steady state of a followed list,
where every record is compared and nearly all are unchanged.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from banks import store
from banks.exchanges.lists import ListConfig
from banks.lookup import BankIndexes
from banks.taxonomy import Taxonomy
from hashers import Signal, default_registry
from hma.db import Database, ensure_schema
from hma.exchanges import Exchanges
from hma.secrets import SecretBox
from hma.settings import load_settings


def feed_line(value: str) -> str:
    return json.dumps({"signal_type": "pdq", "value": value, "tags": ["csam"]}) + "\n"


def write_feed(path: Path, count: int, chunk: int = 100_000) -> str:
    """Writes `count` random PDQ lines a chunk at a time, so that the peak memory
    reported is the sync's, not the feed's; returns the last value written."""
    rng = np.random.default_rng(5)
    last = ""
    with open(path, "w") as out:
        for start in range(0, count, chunk):
            rows = rng.integers(0, 256, (min(chunk, count - start), 32), dtype=np.uint8)
            values = [row.tobytes().hex() for row in rows]
            out.writelines(feed_line(value) for value in values)
            last = values[-1]
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=ListConfig.batch_size)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        feed = root / "feed.jsonl"
        last = write_feed(feed, args.signals)
        settings = load_settings(environ={}, data_dir=root / "data")
        database = Database(settings.resolved_database_url)
        ensure_schema(database.engine)
        registry = default_registry()
        exchanges = Exchanges.build(
            settings, database, registry, Taxonomy.load(), SecretBox("bench")
        )
        with database.session() as session:
            store.create_bank(session, "followed")
            exchanges.add(
                session,
                "feed",
                "list",
                "followed",
                url=str(feed),
                config={"batch_size": args.batch},
            )
        indexes = BankIndexes(registry)  # a running process, already started
        with database.session() as session:
            indexes.refresh(session)

        started = time.perf_counter()
        report = exchanges.sync("feed")
        synced = time.perf_counter() - started
        assert report.ok and report.upserts == args.signals, report.to_dict()
        with database.session() as session:
            found = indexes.find(session, [Signal("pdq", last, quality=100)])
        matchable = time.perf_counter() - started
        assert [m.distance for m in found] == [0], found
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        fetch, apply = report.seconds["fetch"], report.seconds["apply"]

        lines = feed.read_text().splitlines(keepends=True)
        lines[0] = feed_line(last[::-1])
        feed.write_text("".join(lines))
        started = time.perf_counter()
        resync = exchanges.sync("feed")
        resynced = time.perf_counter() - started
        assert resync.ok and resync.upserts == 1 and resync.swept == 1, resync.to_dict()

        print(f"signals synced             {args.signals:>12,}")
        print(f"sync seconds               {synced:>12.1f}")
        print(f"signals/s into SQLite      {args.signals / synced:>12,.0f}")
        print(f"  reading the list s       {fetch:>12.1f}")
        print(
            f"  applying s               {apply:>12.1f}   ({args.signals / apply:,.0f} signals/s)"
        )
        print(f"peak memory (MB)           {peak:>12,.0f}")
        print(
            f"until last matchable s     {matchable:>12.1f}"
            f"   (index catch-up {matchable - synced:.1f} s)"
        )
        print(f"resync, one line changed s {resynced:>12.1f}")
        database.dispose()


if __name__ == "__main__":
    main()
