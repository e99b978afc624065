"""Running exchanges: the CLI, the HTTP API, the scheduler, and credentials at rest."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import select

from banks.exchanges.http import HttpClient
from banks.models import BankContent, Exchange
from core.errors import ExchangeError, SettingsError
from hma.assembly import build_egress
from hma.scheduler import Scheduler
from hma.secrets import SecretBox, secret_box
from tests.conftest import loopback_egress
from tests.exchange_servers import FakeThreatExchange, TEUpdate, wait_until

MD5S = [f"{i:032x}" for i in range(1, 50)]


def test_exchange_commands(hma, tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("".join(f"md5 {v}\n" for v in MD5S[:4]))
    assert hma("bank", "create", "followed").exit_code == 0
    added = hma(
        "exchange",
        "add",
        "mylist",
        "--type",
        "list",
        "--bank",
        "followed",
        "--url",
        str(feed),
        "--interval",
        "60",
    )
    assert added.exit_code == 0, added.stderr
    assert (
        hma(
            "exchange", "add", "mylist", "--type", "list", "--bank", "followed", "--url", str(feed)
        ).exit_code
        == 1
    )
    bad = hma(
        "exchange",
        "add",
        "x",
        "--type",
        "list",
        "--bank",
        "followed",
        "--url",
        str(feed),
        "--config",
        "nonsense",
    )
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.stderr

    synced = hma("exchange", "sync", "mylist")
    assert synced.exit_code == 0 and "upserts 4" in synced.stderr
    status = json.loads(hma("exchange", "status", "mylist", "--json").stdout)
    assert status["last_success_at"] and status["totals"]["upserts"] == 4
    assert status["type"] == "list" and status["bank"] == "followed"
    assert "mylist\tlist\tbank followed" in hma("exchange", "list").stdout

    feed.unlink()
    failed = hma("exchange", "sync", "mylist")
    assert failed.exit_code == 1 and "cannot read the list" in failed.stderr
    assert hma("exchange", "remove", "mylist").exit_code == 0
    assert hma("exchange", "status", "mylist").exit_code == 1


def test_credentials_from_stdin_are_stored_encrypted(hma, database):
    hma("bank", "create", "followed")
    secret = "12345678|a-very-secret-app-token-value"
    result = hma(
        "exchange",
        "add",
        "te",
        "--type",
        "threatexchange",
        "--bank",
        "followed",
        "--config",
        "privacy_group=42",
        "--credentials",
        "-",
        input=secret + "\n",
    )
    assert result.exit_code == 0, result.stderr
    with database.session() as session:
        stored = session.scalar(select(Exchange.credentials))
    assert stored and secret not in stored
    shown = hma("exchange", "status", "te", "--json").stdout
    assert secret not in shown and json.loads(shown)["has_credentials"] is True


def test_exchange_api(api, database, tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("".join(f"md5 {v}\n" for v in MD5S[:3]))
    api.post("/banks", json={"name": "followed"})
    created = api.post(
        "/exchanges",
        json={
            "name": "l",
            "type": "list",
            "bank": "followed",
            "url": str(feed),
            "interval_seconds": 30,
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["interval_seconds"] == 30
    assert api.post("/exchanges", role="reviewer", json={}).status_code == 403
    assert (
        api.post(
            "/exchanges", json={"name": "l", "type": "list", "bank": "followed", "url": str(feed)}
        ).status_code
        == 409
    )
    for body, code in [
        ({"name": "m", "type": "nope", "bank": "followed"}, "invalid_exchange_type"),
        ({"name": "m", "type": "list", "bank": "missing", "url": "/x"}, "bank_not_found"),
        (
            {"name": "m", "type": "list", "bank": "followed", "url": "/x", "settings": "x"},
            "invalid_exchange_config",
        ),
    ]:
        response = api.post("/exchanges", json=body)
        assert response.status_code in (400, 404) and response.get_json()["error"]["code"] == code

    assert api.post("/exchanges/l/sync", json={"full": True}).status_code == 202
    wait_until(lambda: api.get("/exchanges/l").get_json()["last_success_at"] is not None)
    state = api.get("/exchanges/l").get_json()
    assert state["totals"]["upserts"] == 3 and state["last_run"]["full"] is True
    assert api.patch("/exchanges/l", json={"enabled": False}).get_json()["enabled"] is False
    assert [e["name"] for e in api.get("/exchanges").get_json()["exchanges"]] == ["l"]
    assert api.delete("/exchanges/l?keep_content=true").status_code == 204
    assert api.get("/exchanges/l").status_code == 404
    assert api.get("/banks/followed").get_json()["content_count"] == 3
    # Kept, it is still the exchange's: a published bank shares it only with reshare.
    with database.session() as session:
        kept = {c.origin_exchange for c in session.scalars(select(BankContent))}
    assert kept == {"list:l"}


def test_scheduler_runs_syncs_and_follows_changes(exchanges_env):
    exchanges, database, fake = exchanges_env
    scheduler = Scheduler(exchanges.settings, database, exchanges, exchanges.egress)
    scheduler.start()
    try:
        wait_until(lambda: count_content(database) == 3)
        fake.updates.append(TEUpdate("HASH_MD5", MD5S[10], 9000))
        wait_until(lambda: count_content(database) == 4, timeout=30)
        with database.session() as session:
            exchanges.update(session, "test", exchanges.get(session, "te"), enabled=False)
        scheduler.reconcile()
        assert "sync:te" not in {job.id for job in scheduler.jobs.get_jobs()}
    finally:
        scheduler.stop()


def count_content(database) -> int:
    with database.session() as session:
        return len(session.scalars(select(BankContent)).all())


@pytest.fixture
def exchanges_env(settings, database):
    from banks import store
    from banks.taxonomy import Taxonomy
    from hashers import default_registry
    from hma.exchanges import Exchanges

    fake = FakeThreatExchange()
    fake.updates = [TEUpdate("HASH_MD5", MD5S[i], 1000 * (i + 1)) for i in range(3)]
    exchanges = Exchanges.build(
        settings,
        database,
        default_registry(),
        Taxonomy.load(),
        SecretBox("k"),
        build_egress(settings),
    )
    with database.session() as session:
        store.create_bank(session, "followed")
        exchanges.add(
            session,
            "test",
            "te",
            "threatexchange",
            "followed",
            url=f"{fake.url}/v9.0",
            credentials=fake.token,
            interval=10,
            config={"privacy_group": "303"},
        )
    yield exchanges, database, fake
    fake.close()


def test_secret_key_file_is_private_and_stable(settings):
    first = secret_box(settings)
    key_file = settings.data_dir / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    token = first.encrypt("hunter2")
    assert secret_box(settings).decrypt(token) == "hunter2"
    with pytest.raises(SettingsError, match="secret key has changed"):
        SecretBox("another key").decrypt(token)
    assert "do-not-print" not in repr(settings.replace(secret_key="do-not-print"))


def test_http_errors_never_carry_secrets(http_server):
    server = http_server({})
    client = HttpClient(loopback_egress(), retries=0, secrets=["topsecret"])
    with pytest.raises(ExchangeError) as caught:
        client.request("GET", f"{server.url}/missing?access_token=12345|topsecret&x=1")
    message = str(caught.value)
    assert "404" in message and "topsecret" not in message and "12345" not in message
