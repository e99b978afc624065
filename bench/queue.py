"""The review queue with many open cases: a page, the next case, the counts.

    python bench/queue.py [--cases 100000] [--database sqlite|postgresql|both]

Fills a fresh database with unresolved cases (random stored priority, ages
spread over two days, a few per cent claimed, escalated or in another queue),
then times, warm, the queries a reviewer's page makes: the console's first
page (100 cases) and a deep page (offset 5,000), the next free case, and
the counts per status. The same first page is also ranked the way the queue
was before it was ranked in SQL (every unresolved case's three columns read
and sorted in Python), as the baseline. Target: a page under 50 ms at 100,000
open cases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parents[1])

from sqlalchemy import insert, select

from actioners import queue
from actioners.models import Case
from actioners.priority import age_reason
from bench.databases import KINDS, fresh_database_url
from core.names import OPEN_STATUSES
from database import utcnow
from hma.db import Database, ensure_schema, refresh_statistics

REPEATS = 30
BATCH = 10_000


def fill(database: Database, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = utcnow()
    with database.session() as session:
        for start in range(0, count, BATCH):
            rows: list[dict[str, Any]] = []
            for n in range(start, min(count, start + BATCH)):
                escalated = rng.random() < 0.03
                claimed = rng.random() < 0.05
                rows.append(
                    {
                        "content_ref": f"upload-{n}",
                        "status": "escalated" if escalated else "open",
                        "queue": "senior" if escalated else "default",
                        "priority": rng.randint(10, 100),
                        "priority_reasons": [],
                        "details": {},
                        "claimed_by": f"user:r{n % 20}" if claimed else None,
                        "lease_expires_at": now + timedelta(minutes=5) if claimed else None,
                        "created_at": now - timedelta(seconds=rng.uniform(0, 48 * 3600)),
                        "updated_at": now,
                    }
                )
            session.execute(insert(Case), rows)


def python_ranked_page(session: Any, limit: int = 100) -> list[int]:
    """The former ranking: read every unresolved case, score and sort in Python."""
    now = utcnow()
    rows = session.execute(
        select(Case.id, Case.priority, Case.created_at).where(
            Case.status.in_(OPEN_STATUSES), Case.queue.in_(["default", "user:r1"])
        )
    )
    scored = sorted(
        (
            (-(int(priority) + age_reason(created_at, now).points), created_at, int(case_id))
            for case_id, priority, created_at in rows
        ),
    )
    return [case_id for _score, _created, case_id in scored[:limit]]


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """(median, slowest) milliseconds over `REPEATS` warm runs."""
    work()
    spent = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent), max(spent)


def run(kind: str, count: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        url = fresh_database_url(kind, Path(folder), "hma_bench_queue")
        database = Database(url)
        ensure_schema(database.engine)
        started = time.perf_counter()
        fill(database, count)
        spent = time.perf_counter() - started
        print(f"\n{kind}: {count:,} unresolved cases written in {spent:.1f} s")
        # As the scheduler's hourly job does (SQLite), and autovacuum (PostgreSQL).
        refresh_statistics(database.engine)
        if kind == "postgresql":
            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("ANALYZE cases")
        mine = frozenset({"default", "user:r1"})
        with database.session() as session:
            first = queue.page(session, limit=100, queues=mine)[0]
            assert [c.id for c in first] == python_ranked_page(session), "rankings differ"
            cases: list[tuple[str, Callable[[], Any]]] = [
                ("page 1 (100 cases)", lambda: queue.page(session, limit=100, queues=mine)),
                (
                    "page at offset 5,000",
                    lambda: queue.page(session, limit=100, offset=5000, queues=mine),
                ),
                ("next free case", lambda: queue.next_free(session, "user:r1", mine)),
                ("counts per status", lambda: queue.counts(session, mine)),
                ("page 1, ranked in Python (before)", lambda: python_ranked_page(session)),
            ]
            for name, work in cases:
                median, slowest = timed(work)
                print(f"  {name:<36} median {median:7.1f} ms   slowest {slowest:7.1f} ms")
        database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", choices=[*KINDS, "both"], default="both")
    options = parser.parse_args()
    for kind in KINDS if options.database == "both" else [options.database]:
        run(kind, options.cases)


if __name__ == "__main__":
    main()
