"""Banks and content in a real database: lifecycle, paging, the change log, import/export."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from banks import changelog, store, transfer
from banks.models import BankContent, BankSignal, SignalChange
from core.errors import BankExists, BankNotFound, ContentNotFound, InvalidInput
from hashers import Signal, default_registry

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "d35c785545392755e7e4164457657269"


def test_bank_lifecycle(database):
    with database.session() as session:
        store.create_bank(session, "ncmec-a1", description="from NCMEC")
        store.create_bank(session, "local")
    with database.session() as session, pytest.raises(BankExists):
        store.create_bank(session, "local")
    with database.session() as session:
        names = [(s.bank.name, s.content_count) for s in store.list_banks(session)]
        assert names == [("local", 0), ("ncmec-a1", 0)]
        bank = store.get_bank(session, "local")
        store.update_bank(session, bank, name="local-2", enabled=False)
    with database.session() as session:
        renamed = store.get_bank(session, "local-2")
        assert renamed.enabled is False
        with pytest.raises(BankNotFound):
            store.get_bank(session, "local")
        with pytest.raises(BankExists):
            store.update_bank(session, renamed, name="ncmec-a1")


@pytest.mark.parametrize("name", ["", "has space", "-leading", "x" * 256, ".dot", "a/b", None])
def test_bank_names_are_validated(database, name):
    with database.session() as session, pytest.raises(InvalidInput):
        store.create_bank(session, name)


def test_content_lifecycle_writes_the_change_log(database):
    with database.session() as session:
        bank = store.create_bank(session, "b")
        content = store.add_content(
            session,
            bank,
            [Signal("pdq", PDQ_A, quality=100), Signal("md5", MD5_A)],
            tags=["csam", "csam", " a1 "],
            metadata={"case": "x-1"},
        )
        content_id = content.id
    with database.session() as session:
        bank = store.get_bank(session, "b")
        stored = store.get_content(session, bank, content_id)
        assert stored.tags == ["csam", "a1"]
        assert stored.details == {"case": "x-1"}
        assert [(s.signal_type, s.quality) for s in stored.signals] == [("pdq", 100), ("md5", None)]
        store.update_content(session, stored, enabled=False, tags=["b2"])
    with database.session() as session:
        bank = store.get_bank(session, "b")
        stored = store.get_content(session, bank, content_id)
        assert (stored.enabled, stored.tags) == (False, ["b2"])
        store.remove_content(session, stored)
    with database.session() as session:
        bank = store.get_bank(session, "b")
        with pytest.raises(ContentNotFound):
            store.get_content(session, bank, content_id)
        assert session.scalars(select(BankSignal)).all() == []
        log = [(c.op, c.signal_type) for c in changelog.since(session, 0, 100).entries]
        # Added, disabled (its signals leave the indexes), then removed.
        assert log == [("add", "pdq"), ("add", "md5")] + [("remove", "pdq"), ("remove", "md5")] * 2


def test_content_ids_are_never_reused(database):
    with database.session() as session:
        bank = store.create_bank(session, "b")
        first = store.add_content(session, bank, [Signal("md5", MD5_A)])
        first_signal = first.signals[0].id
        store.remove_content(session, first)
    with database.session() as session:
        bank = store.get_bank(session, "b")
        second = store.add_content(session, bank, [Signal("md5", MD5_A)])
        assert second.signals[0].id > first_signal


def test_deleting_a_bank_removes_content_and_logs_each_signal(database):
    with database.session() as session:
        bank = store.create_bank(session, "doomed")
        for i in range(3):
            store.add_content(session, bank, [Signal("md5", f"{i:032x}")])
    with database.session() as session:
        store.delete_bank(session, store.get_bank(session, "doomed"))
    with database.session() as session:
        assert session.scalars(select(BankContent)).all() == []
        removes = session.scalars(select(SignalChange).where(SignalChange.op == "remove")).all()
        assert sorted(r.value for r in removes) == [f"{i:032x}" for i in range(3)]


def test_invalid_tags_and_metadata(database):
    with database.session() as session:
        bank = store.create_bank(session, "b")
        with pytest.raises(InvalidInput):
            store.add_content(session, bank, [Signal("md5", MD5_A)], tags=["a,b"])
        with pytest.raises(InvalidInput):
            store.add_content(session, bank, [Signal("md5", MD5_A)], metadata=["not", "a", "dict"])
        with pytest.raises(InvalidInput):
            store.add_content(session, bank, [Signal("md5", MD5_A)], metadata={"x": "y" * 20000})
        with pytest.raises(InvalidInput):
            store.add_content(session, bank, [])


def test_paging(database):
    with database.session() as session:
        bank = store.create_bank(session, "b")
        for i in range(25):
            store.add_content(session, bank, [Signal("md5", f"{i:032x}")])
    with database.session() as session:
        bank = store.get_bank(session, "b")
        seen, after = [], 0
        while page := store.list_content(session, bank, after=after, limit=10):
            seen.extend(c.signals[0].value for c in page)
            after = page[-1].id
        assert seen == [f"{i:032x}" for i in range(25)]
        with pytest.raises(InvalidInput):
            store.list_content(session, bank, limit=0)


JSONL = "".join(
    json.dumps(item) + "\n" if isinstance(item, dict) else item
    for item in [
        {"signal_type": "pdq", "value": PDQ_A, "tags": ["csam"], "metadata": {"source_id": "7"}},
        {"signal_type": "md5", "value": MD5_A},
        "not json at all\n",
        {"signal_type": "md5", "value": "zz"},
        {"signal_type": "photodna", "value": "00"},
        {"signal_type": "md5", "value": MD5_A.upper()},
    ]
)

CSV = f"""\
signal_type,value,tags,reported_by
pdq,{PDQ_A},csam;a1,alice
md5,{MD5_A},,bob
md5,nothex,,carol
"""

LINES = f"""\
# a comment
pdq {PDQ_A}

md5 {MD5_A} extra
"""


@pytest.mark.parametrize(
    ("text", "added", "duplicates", "error_lines"),
    [(JSONL, 2, 1, [3, 4, 5]), (CSV, 2, 0, [4]), (LINES, 1, 0, [4])],
    ids=["jsonl", "csv", "lines"],
)
def test_import_reports_and_skips_bad_lines(database, text, added, duplicates, error_lines):
    registry = default_registry()
    with database.session() as session:
        bank = store.create_bank(session, "imported")
        report = transfer.import_records(session, registry, bank, transfer.parse(io.StringIO(text)))
    assert (report.added, report.duplicates) == (added, duplicates)
    assert [e.line for e in report.errors] == error_lines
    with database.session() as session:
        again = transfer.import_records(
            session,
            registry,
            store.get_bank(session, "imported"),
            transfer.parse(io.StringIO(text)),
        )
    assert again.added == 0


def test_csv_extra_columns_become_metadata(database):
    with database.session() as session:
        bank = store.create_bank(session, "b")
        transfer.import_records(session, default_registry(), bank, transfer.parse(io.StringIO(CSV)))
    with database.session() as session:
        records = list(transfer.export_records(session, store.get_bank(session, "b")))
    assert records[0]["tags"] == ["csam", "a1"]
    assert records[0]["metadata"] == {"reported_by": "alice"}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_round_trips(database, fmt):
    registry = default_registry()
    with database.session() as session:
        bank = store.create_bank(session, "source")
        transfer.import_records(session, registry, bank, transfer.parse(io.StringIO(JSONL)))
        store.create_bank(session, "copy")
    with database.session() as session:
        records = list(transfer.export_records(session, store.get_bank(session, "source")))
        if fmt == "jsonl":
            text = "".join(transfer.to_jsonl(r) + "\n" for r in records)
        else:
            text = "".join(transfer.to_csv_rows(records))
        report = transfer.import_records(
            session, registry, store.get_bank(session, "copy"), transfer.parse(io.StringIO(text))
        )
        assert report.errors == []
    with database.session() as session:
        copied = list(transfer.export_records(session, store.get_bank(session, "copy")))

    def essence(items):
        return [(r["signal_type"], r["value"], r["tags"], r["metadata"]) for r in items]

    assert essence(copied) == essence(records)


def test_detect_format():
    assert transfer.detect_format('{"signal_type": "pdq"}') == "jsonl"
    assert transfer.detect_format("\ufeffsignal_type,value,tags") == "csv"
    assert transfer.detect_format("pdq abc") == "lines"
