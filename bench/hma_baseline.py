"""Meta's HMA (OpenMediaMatch) 1.1.7 under the same loads as `bench/http.py`, run as its
Dockerfile runs it: gunicorn's defaults (one sync worker), jemalloc preloaded,
PostgreSQL on loopback.

    python bench/hma_baseline.py --hma-python /path/to/hma-venv/bin/python
                                 --hma-src /path/to/hasher-matcher-actioner/src
                                 [--hashes 1000] [--seconds 10]
                                 [--loads lookup,upload,coop]

This script installs nothing. As HMA's Dockerfile does, its dependencies are
installed in an environment (`pip install .[prod]` in its
`hasher-matcher-actioner` folder; `--hma-python` is that environment's
interpreter) and it runs from its `src` folder (`--hma-src`). The script
creates a fresh database on 127.0.0.1:5432 (user `postgres`, trust
authentication), writes a configuration with the three HTTP roles and the
indexer and index-cache tasks (the development configuration's, every 5 s
instead of every minute so that the bank is indexed within the run), runs
HMA's migrations as its `db-migrate.sh` does, starts gunicorn with
`LD_PRELOAD` set to jemalloc as its Dockerfile does, adds a bank of
`--hashes` random PDQ hashes through `/c/bank/<name>/signal`, and waits for
the index to hold them. Then, with wrk (one thread) at 1 and 8 connections:

- `lookup`: `GET /m/lookup?signal_type=pdq&signal=<a banked hash>`;
- `upload`: `POST /m/lookup` with a 1024x768 JPEG as `photo` (hash and match);
- `coop`: Coop's flow, `GET /h/hash?url=` of that JPEG on a server on
  loopback, then `GET /m/lookup` with its hash, alternately (a flow is two
  requests: flows/s is half the req/s printed).

`bench/http.py --loads lookup,upload,coop` drives our server with the same
loads. Finally the memory (RSS and PSS) of HMA's processes is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project root in place of bench/, whose http.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from sqlalchemy import create_engine, text

from bench.http import (
    BOUNDARY,
    UPLOAD,
    Load,
    MediaServer,
    ServerProcess,
    drive,
    free_port,
    multipart,
    row,
)

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
BANK = "KNOWN"

CONFIG = """
from OpenMediaMatch.storage.postgres.impl import DefaultOMMStore
from threatexchange.content_type.photo import PhotoContent
from threatexchange.content_type.video import VideoContent
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

DATABASE_URI = {database!r}
PRODUCTION = True
ROLE_HASHER = True
ROLE_MATCHER = True
ROLE_CURATOR = True
UI_ENABLED = False
TASK_FETCHER = False
TASK_INDEXER = True
TASK_INDEX_CACHE = True
TASK_INDEXER_INTERVAL_SECONDS = 5
TASK_INDEX_CACHE_INTERVAL_SECONDS = 5
STORAGE_IFACE_INSTANCE = DefaultOMMStore(
    signal_types=[PdqSignal, VideoMD5Signal],
    content_types=[PhotoContent, VideoContent],
    exchange_types=[],
)
"""


def fresh_database(name: str) -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def call(url: str, method: str = "GET", payload: object = None) -> object:
    request = urllib.request.Request(url, method=method)
    if payload is not None:
        request.data = json.dumps(payload).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


class HMA(ServerProcess):
    """HMA's gunicorn, as its Dockerfile starts it."""

    def __init__(
        self, python: str, env: dict[str, str], source: Path, port: int, log: Path
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        preloaded = env | {"LD_PRELOAD": JEMALLOC}
        super().__init__([*command, "OpenMediaMatch.app:create_app()"], preloaded, log, source)
        self.answering(f"{self.url}/status/live", 120)


def seed(url: str, hashes: int) -> str:
    """A bank of random PDQ hashes; returns one of them, once the index holds them all."""
    call(f"{url}/c/banks", "POST", {"name": BANK})
    values = [secrets.token_hex(32) for _ in range(hashes)]
    for value in values:
        call(f"{url}/c/bank/{BANK}/signal", "POST", {"pdq": value})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            found = call(f"{url}/m/lookup?signal_type=pdq&signal={values[-1]}")
            if isinstance(found, dict) and found.get(BANK):
                return values[-1]
        except urllib.error.HTTPError:
            pass  # the index cache is not loaded yet (503)
        time.sleep(1)
    raise SystemExit("HMA's index never held the bank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hma-python", required=True, help="python of HMA's environment")
    parser.add_argument("--hma-src", required=True, type=Path, help="HMA's src folder")
    parser.add_argument("--hashes", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--loads", type=lambda t: t.split(","), default=["lookup", "upload", "coop"]
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    if not Path(JEMALLOC).exists():
        raise SystemExit(
            f"HMA's image preloads jemalloc: apt-get install libjemalloc2 ({JEMALLOC})"
        )
    root = Path(tempfile.mkdtemp(prefix="hma-baseline-", dir=os.environ.get("TMPDIR")))
    config = root / "omm_config.py"
    config.write_text(CONFIG.format(database=fresh_database("hma_baseline")))
    source = args.hma_src.resolve()
    if not (source / "OpenMediaMatch" / "app.py").exists():
        raise SystemExit(f"{source} is not HMA's src folder (no OpenMediaMatch/app.py)")
    env = os.environ | {"OMM_CONFIG": str(config), "PYTHONPATH": str(source)}
    flask = [args.hma_python, "-m", "flask", "--app", "OpenMediaMatch.app", "db", "upgrade"]
    migrated = subprocess.run(
        [*flask, "--directory", "OpenMediaMatch/migrations"],
        env=env | {"MIGRATION_COMMAND": "1"},
        cwd=source,
        capture_output=True,
        text=True,
    )
    if migrated.returncode:
        raise SystemExit(f"HMA's migrations failed: {migrated.stderr[-2000:]}")
    media = MediaServer(UPLOAD)
    hma = HMA(args.hma_python, env, source, free_port(), root / "gunicorn.log")
    try:
        banked = seed(hma.url, args.hashes)
        rss, pss = hma.memory_mb()
        print(f"\n== HMA 1.1.7: bank of {args.hashes:,} PDQ hashes, 1 sync worker, jemalloc ==")
        print(f"idle memory: RSS {rss:,.0f} MB, PSS {pss:,.0f} MB")
        print(f"{'load':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
        form = f"multipart/form-data; boundary={BOUNDARY}"
        by_name: dict[str, Load | MediaServer] = {
            "lookup": Load(
                "hma-lookup", f"/m/lookup?signal_type=pdq&signal={banked}", b"", "", "GET"
            ),
            "upload": Load("hma-upload", "/m/lookup", multipart({}, UPLOAD, "photo"), form),
            "coop": media,
        }
        for name in args.loads:
            for connections in (1, 8):
                figures = drive(hma.url, by_name[name], "", connections, args.seconds, root)
                row(f"{name}, HMA, {connections} conn", figures)
        rss, pss = hma.memory_mb()
        print(f"memory after the loads: RSS {rss:,.0f} MB, PSS {pss:,.0f} MB")
    finally:
        hma.stop()
        media.close()
    print(f"gunicorn log: {root / 'gunicorn.log'}")


if __name__ == "__main__":
    main()
