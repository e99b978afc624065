"""Syncs that die: a real `hma exchange sync` killed with SIGKILL mid-way, then rerun."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from banks import store
from banks.models import BankContent, Exchange
from hma.db import Database
from tests.conftest import TEST_PEERS
from tests.exchange_servers import FakeThreatExchange, TEUpdate, wait_until

PDQS = [hashlib.sha256(f"resilience-{i}".encode()).hexdigest() for i in range(100)]


def hma_command(data_dir: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("hma")), *args, "--data-dir", str(data_dir)]


def hma_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMA_")}
    env["HMA_DATABASE_URL"] = database_url
    env["HMA_SECRET_KEY"] = "resilience-test-key"
    env["HMA_EGRESS_ALLOW"] = TEST_PEERS
    return env


def bank_state(database: Database) -> dict[str, list[tuple[str, str]]]:
    with database.session() as session:
        return {
            str(c.upstream_id): sorted((s.signal_type, s.value) for s in c.signals)
            for c in session.scalars(select(BankContent))
        }


def source_state(fake: FakeThreatExchange) -> dict[str, list[tuple[str, str]]]:
    return {f"HASH_PDQ:{u.indicator}": [("pdq", u.indicator)] for u in fake.updates}


def checkpoint(database: Database) -> dict | None:
    with database.session() as session:
        return session.scalar(select(Exchange.checkpoint))


@pytest.fixture
def fake():
    server = FakeThreatExchange()
    yield server
    server.close()


def kill_mid_sync(tmp_path, database_url, database, fake, pages_before_kill: int) -> None:
    """Start a sync, let it commit a few pages, then SIGKILL it."""
    committed = {"n": 0}
    start = checkpoint(database)
    process = subprocess.Popen(
        hma_command(tmp_path, "exchange", "sync", "te"),
        env=hma_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def progressed() -> bool:
        current = checkpoint(database)
        if current != start and current is not None:
            committed["n"] = int(current["update_time"])
        return committed["n"] >= pages_before_kill * 2 * 1000

    try:
        wait_until(progressed, timeout=60)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def rerun(tmp_path, database_url, fake) -> None:
    fake.delay = 0
    done = subprocess.run(
        hma_command(tmp_path, "exchange", "sync", "te"),
        env=hma_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def follow_forty_updates(tmp_path, database_url, database, fake, token_on_stdin: bool) -> None:
    """40 upstream updates, and a bank following them through `hma exchange add`
    (two per page); the token is given on stdin or on the command line."""
    fake.updates = [TEUpdate("HASH_PDQ", PDQS[i], 1000 * (i + 1)) for i in range(40)]
    with database.session() as session:
        store.create_bank(session, "followed")
    setup = subprocess.run(
        hma_command(
            tmp_path,
            *("exchange", "add", "te", "--type", "threatexchange", "--bank", "followed"),
            *("--url", f"{fake.url}/v9.0", "--config", "privacy_group=303"),
            *("--config", "page_size=2", "--credentials", "-" if token_on_stdin else fake.token),
        ),
        input=fake.token + "\n" if token_on_stdin else None,
        env=hma_env(database_url),
        capture_output=True,
        text=True,
    )
    assert setup.returncode == 0, setup.stderr


@pytest.mark.slow
def test_killed_sync_resumes_to_exactly_the_source(tmp_path, database_url, database, fake):
    follow_forty_updates(tmp_path, database_url, database, fake, token_on_stdin=True)
    fake.delay = 0.15  # slow enough to be killed in the middle

    kill_mid_sync(tmp_path, database_url, database, fake, pages_before_kill=3)
    partial = bank_state(database)
    assert 0 < len(partial) < 40  # it really was interrupted
    rerun(tmp_path, database_url, fake)
    assert bank_state(database) == source_state(fake)


@pytest.mark.slow
def test_killed_full_resync_still_removes_what_is_gone(tmp_path, database_url, database, fake):
    follow_forty_updates(tmp_path, database_url, database, fake, token_on_stdin=False)
    rerun(tmp_path, database_url, fake)
    assert len(bank_state(database)) == 40

    # Upstream drops five items, and the checkpoint is too old for their tombstones.
    gone = {PDQS[i] for i in (0, 7, 15, 23, 39)}
    fake.updates = [u for u in fake.updates if u.indicator not in gone]
    with database.session() as session:
        exchange = session.scalar(select(Exchange))
        exchange.checkpoint = dict(exchange.checkpoint) | {"last_fetch": time.time() - 100 * 86400}
    fake.delay = 0.15
    kill_mid_sync(tmp_path, database_url, database, fake, pages_before_kill=3)
    with database.session() as session:
        assert session.scalar(select(Exchange.resync_generation)) is not None
    assert len(bank_state(database)) == 40  # nothing swept before the resync completes
    rerun(tmp_path, database_url, fake)
    assert bank_state(database) == source_state(fake)
    with database.session() as session:
        assert session.scalar(select(Exchange.resync_generation)) is None
