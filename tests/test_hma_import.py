"""`hma bank import-hma`: banks copied from a Meta HMA deployment's tables, or dumps of them.

The HMA side is built here with HMA's table and column names (`bank`,
`bank_content`, `content_signal`, `exchange`, `exchange_data`), in a
PostgreSQL schema of its own or as the CSV files `\\copy ... CSV HEADER` writes.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from banks import publish, store
from banks.models import Bank, BankContent
from banks.taxonomy import shipped_taxonomy
from database.audit import AuditEntry
from tests.conftest import PG_URL_ENV, postgres_schema

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
LATER = int(time.time()) + 86400

EXCHANGES = [
    {
        "id": 1,
        "name": "NCMEC_FEED",
        "api_cls": "ncmec",
        "fetching_enabled": True,
        "typed_config": json.dumps({"name": "NCMEC_FEED", "api": "ncmec", "enabled": True}),
    }
]
BANKS = [
    {"id": 1, "name": "CURATED", "enabled_ratio": 1.0, "import_from_exchange_id": None},
    {"id": 2, "name": "SAMPLED", "enabled_ratio": 2.5, "import_from_exchange_id": None},
    {"id": 3, "name": "NCMEC_FEED", "enabled_ratio": 1.0, "import_from_exchange_id": 1},
]
EXCHANGE_DATA = [{"id": 1, "collab_id": 1, "fetch_id": "42-7"}]
CONTENT = [
    # id, bank, disable_until_ts, metadata, note, imported_from_id
    (10, 1, 1, {"content_id": "abc", "json": {"k": 1}}, "kept", None),
    (11, 1, 0, None, None, None),
    (12, 1, LATER, None, None, None),
    (13, 1, 1000, None, None, None),
    (14, 1, 1, None, None, None),
    (20, 2, 1, None, None, None),
    (30, 3, 1, None, None, 1),
]
SIGNALS = [
    (10, "pdq", PDQ),
    (10, "video_md5", MD5),
    (11, "pdq", "0" * 63 + "1"),
    (12, "pdq", "0" * 62 + "11"),
    (13, "pdq", "0" * 61 + "111"),
    (14, "tmk", "not ours"),
    (20, "video_md5", MD5),
    (30, "pdq", "f" * 64),
]


def content_rows() -> list[dict[str, object]]:
    return [
        {
            "id": cid,
            "bank_id": bank,
            "imported_from_id": source,
            "disable_until_ts": until,
            "original_content_uri": None,
            "bank_content_metadata": json.dumps(meta) if meta is not None else None,
            "note": note,
        }
        for cid, bank, until, meta, note, source in CONTENT
    ]


def signal_rows() -> list[dict[str, object]]:
    return [{"content_id": c, "signal_type": t, "signal_val": v} for c, t, v in SIGNALS]


TABLES = {
    "exchange": EXCHANGES,
    "bank": BANKS,
    "exchange_data": EXCHANGE_DATA,
    "bank_content": content_rows(),
    "content_signal": signal_rows(),
}
DDL = [
    "CREATE TABLE exchange (id serial PRIMARY KEY, name varchar(255) UNIQUE, api_cls varchar(255),"
    " fetching_enabled boolean DEFAULT true, typed_config json)",
    "CREATE TABLE bank (id serial PRIMARY KEY, name varchar(255) UNIQUE, enabled_ratio float,"
    " import_from_exchange_id int REFERENCES exchange(id))",
    "CREATE TABLE exchange_data (id serial PRIMARY KEY, collab_id int REFERENCES exchange(id),"
    " fetch_id text)",
    "CREATE TABLE bank_content (id serial PRIMARY KEY, bank_id int REFERENCES bank(id),"
    " imported_from_id int REFERENCES exchange_data(id), disable_until_ts int DEFAULT 1,"
    " original_content_uri varchar, bank_content_metadata json, note varchar(255))",
    "CREATE TABLE content_signal (content_id int REFERENCES bank_content(id),"
    " signal_type varchar, signal_val text, create_time timestamptz DEFAULT now(),"
    " PRIMARY KEY (content_id, signal_type))",
]


def write_dumps(folder: Path) -> Path:
    """The CSV files psql's `\\copy <table> TO '<table>.csv' CSV HEADER` writes."""
    folder.mkdir()
    for table, rows in TABLES.items():
        with open(folder / f"{table}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: ("t" if v is True else "" if v is None else v) for k, v in row.items()}
                )
    return folder


@pytest.fixture(params=["dump", "postgresql"])
def hma_source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "dump":
        yield str(write_dumps(tmp_path / "hma-dump"))
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set; reading HMA's PostgreSQL tables is not tested")
    with postgres_schema(base, "hma") as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            for statement in DDL:
                connection.execute(text(statement))
            for table, rows in TABLES.items():
                columns = ", ".join(rows[0])
                values = ", ".join(f":{c}" for c in rows[0])
                connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)
        engine.dispose()
        yield url


def test_banks_come_over_with_their_items_and_states(hma, hma_source, tmp_path, database) -> None:
    id_map = tmp_path / "ids.csv"
    result = hma("bank", "import-hma", hma_source, "--id-map", str(id_map))
    assert result.exit_code == 0, result.stderr
    assert (
        "CURATED: imported 4 items (2 disabled), left out 0 fetched from exchanges, 1 unusable"
        in result.stderr
    )
    assert "signals of other types left out: 1 tmk" in result.stderr
    assert "SAMPLED: imported 1 items" in result.stderr and "clamped" in result.stderr
    assert "NCMEC_FEED: imported 0 items (0 disabled), left out 1 fetched" in result.stderr
    assert "HMA exchange NCMEC_FEED (ncmec) was not copied" in result.stderr

    with database.session() as session:
        banks = {b.name: b for b in session.scalars(select(Bank))}
        assert banks["CURATED"].matching_ratio == 1.0 and banks["SAMPLED"].matching_ratio == 1.0
        items = {
            c.source: c
            for c in session.scalars(
                select(BankContent).where(BankContent.bank_id == banks["CURATED"].id)
            )
        }
        assert set(items) == {"hma:10", "hma:11", "hma:12", "hma:13"}
        first = items["hma:10"]
        assert sorted((s.signal_type, s.value) for s in first.signals) == [
            ("md5", MD5),
            ("pdq", PDQ),
        ]
        assert first.details == {"content_id": "abc", "json": {"k": 1}} and first.note == "kept"
        assert first.enabled
        assert not items["hma:11"].enabled and items["hma:11"].disabled_until is None
        assert not items["hma:12"].enabled
        assert int(items["hma:12"].disabled_until.timestamp()) == LATER
        assert items["hma:13"].enabled  # disabled until a time long past
        audited = session.scalars(
            select(AuditEntry.details).where(AuditEntry.subject == "bank:CURATED")
        )
        assert {
            "imported_from_hma": 4,
            "disabled": 2,
            "exchange_items_left_out": 0,
            "items_left_out": 1,
        } in list(audited)

    with open(id_map) as handle:
        pairs = list(csv.DictReader(handle))
    assert {row["hma_id"] for row in pairs} == {"10", "11", "12", "13", "20"}
    assert str(first.id) in {row["id"] for row in pairs if row["hma_id"] == "10"}

    again = hma("bank", "import-hma", hma_source, "--bank", "CURATED")
    assert again.exit_code == 1 and "CURATED: not imported" in again.stderr
    with database.session() as session:
        assert len(list(session.scalars(select(BankContent)))) == 5  # nothing doubled


def test_only_the_banks_asked_for_and_exchange_content_on_request(
    hma, hma_source, database
) -> None:
    result = hma(
        "bank", "import-hma", hma_source, "--bank", "NCMEC_FEED", "--with-exchange-content"
    )
    assert result.exit_code == 0, result.stderr
    with database.session() as session:
        assert [b.name for b in session.scalars(select(Bank))] == ["NCMEC_FEED"]
        [item] = session.scalars(select(BankContent))
        assert item.source == "hma:30" and item.origin_exchange == "hma:NCMEC_FEED"
    # Still NCMEC's: a published bank shares it only when marked reshare.
    with database.session() as session:
        bank = store.get_bank(session, "NCMEC_FEED")
        store.update_content(session, session.get(BankContent, item.id), tags=["csam"])
        store.update_bank(session, bank, published=True)
    for reshare in (False, True):
        with database.session() as session:
            bank = store.get_bank(session, "NCMEC_FEED")
            store.update_bank(session, bank, reshare=reshare)
            page = publish.feed(session, bank, shipped_taxonomy(), 0, 100)
        assert any(c["op"] == "upsert" for c in page.changes) is reshare
    missing = hma("bank", "import-hma", hma_source, "--bank", "NOPE")
    assert missing.exit_code != 0 and "HMA has no bank NOPE" in missing.stderr


def test_a_source_that_is_neither_is_refused(hma, tmp_path) -> None:
    result = hma("bank", "import-hma", str(tmp_path / "nothing"))
    assert result.exit_code != 0 and "neither a postgresql:// URL nor a folder" in result.stderr
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "bank.csv").write_text("id,name,enabled_ratio\n")
    result = hma("bank", "import-hma", str(tmp_path / "partial"))
    assert result.exit_code != 0 and "bank_content.csv, content_signal.csv" in result.stderr
