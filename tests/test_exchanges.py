"""Banks following exchanges: every adapter against a fake exchange on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from sqlalchemy import func, select, text, update

from actioners import cases, review
from actioners.models import CaseDecision
from banks import changelog, publish, store
from banks.lookup import BankIndexes
from banks.models import BankContent, BankSignal, Exchange, ExchangeFeedback, SignalChange
from banks.taxonomy import Taxonomy
from core.errors import InvalidInput
from database.audit import AuditEntry
from hashers import Signal, default_registry
from hashers.registry import BUILT_IN_TYPES
from hashers.signals import PDQ
from hma.assembly import build_egress
from hma.exchanges import Exchanges
from hma.secrets import SecretBox
from tests.exchange_servers import (
    FakeNCMEC,
    FakeStopNCII,
    FakeThreatExchange,
    NCIIRecord,
    NCMECEntry,
    TEUpdate,
)

# Far apart from one another (about 128 bits), so that only exact copies match.
PDQS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(200)]
MD5S = [f"{i:032x}" for i in range(1, 200)]
#: Review rules for feedback tests: no second reviewer; decisions act at once or wait.
AT_ONCE = review.ReviewPolicy(undo_seconds=0, two_person_rule=False)
WITH_UNDO = review.ReviewPolicy(undo_seconds=3600, two_person_rule=False)


@pytest.fixture
def exchanges(settings, database):
    built = Exchanges.build(
        settings,
        database,
        default_registry(),
        Taxonomy.load(),
        SecretBox("test-secret"),
        build_egress(settings),
    )
    built.engine.client_options = {"backoff": 0.01, "timeout": 5}
    return built


@pytest.fixture
def fakes():
    started = []

    def start(kind, *args, **kwargs):
        fake = kind(*args, **kwargs)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


def make_bank(database, name="followed"):
    with database.session() as session:
        store.create_bank(session, name)


def content_of(database, exchange_name):
    """upstream id -> (sorted signals, tags, enabled) of the exchange's content."""
    with database.session() as session:
        exchange = session.scalar(select(Exchange).where(Exchange.name == exchange_name))
        rows = session.scalars(select(BankContent).where(BankContent.exchange_id == exchange.id))
        return {
            c.upstream_id: (sorted((s.signal_type, s.value) for s in c.signals), c.tags, c.enabled)
            for c in rows
        }


def add_exchange(exchanges, database, name, kind, **kwargs):
    with database.session() as session:
        return exchanges.add(session, "test", name, kind, "followed", **kwargs).id


# Lists ----------------------------------------------------------------------------------


def test_list_file_sync_updates_and_deletes(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    records = [{"signal_type": "md5", "value": MD5S[i], "tags": ["CSAM", "A1"]} for i in range(5)]
    feed.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    add_exchange(exchanges, database, "file", "list", url=str(feed))
    report = exchanges.sync("file")
    assert report.ok and report.full and report.upserts == 5 and report.skipped_records == 1
    assert "line 6" in report.problems[0]
    state = content_of(database, "file")
    assert state[f"md5:{MD5S[0]}"] == ([("md5", MD5S[0])], ["csam", "a1"], True)

    again = exchanges.sync("file")  # unchanged list: nothing to do
    assert again.ok and again.upserts == 0 and not again.full

    records[1]["tags"] = ["csam_egregious"]
    feed.write_text("".join(json.dumps(r) + "\n" for r in records[1:4]))
    report = exchanges.sync("file")
    assert (report.upserts, report.unchanged, report.swept) == (1, 2, 2)
    state = content_of(database, "file")
    assert sorted(state) == sorted(f"md5:{MD5S[i]}" for i in (1, 2, 3))
    assert state[f"md5:{MD5S[1]}"][1] == ["csam_egregious"]


def list_line(i, tags=("csam",)):
    return json.dumps({"signal_type": "md5", "value": MD5S[i], "tags": list(tags)}) + "\n"


def generations(database, exchange_name):
    """upstream id -> the resync generation that last wrote the content."""
    with database.session() as session:
        exchange = session.scalar(select(Exchange).where(Exchange.name == exchange_name))
        return dict(
            session.execute(
                select(BankContent.upstream_id, BankContent.sync_generation).where(
                    BankContent.exchange_id == exchange.id
                )
            ).all()
        )


def test_list_resync_applies_only_the_lines_that_changed(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    feed.write_text("".join(list_line(i) for i in range(50)))
    add_exchange(exchanges, database, "file", "list", url=str(feed))
    assert exchanges.sync("file").upserts == 50
    first = generations(database, "file")

    # One line retagged, one gone, one new; the other 48 are held and left unread.
    lines = [list_line(i) for i in range(50)]
    lines[3] = list_line(3, tags=("csam_egregious",))
    del lines[10]
    lines.append(list_line(60))
    feed.write_text("".join(lines))
    report = exchanges.sync("file")
    assert report.ok and report.full
    assert (report.upserts, report.unchanged, report.swept) == (2, 48, 1)
    state = content_of(database, "file")
    expected = {f"md5:{MD5S[i]}" for i in [*range(50), 60] if i != 10}
    assert set(state) == expected
    assert state[f"md5:{MD5S[3]}"][1] == ["csam_egregious"]
    after = generations(database, "file")
    # Held content keeps the generation that wrote it: the resync never touched it.
    assert sorted(u for u in expected if after[u] != first.get(u)) == sorted(
        f"md5:{MD5S[i]}" for i in (3, 60)
    )

    # A forced resync reads (and stamps) every line; the next one skips them again.
    forced = exchanges.sync("file", full=True)
    assert (forced.upserts, forced.unchanged, forced.swept) == (0, 50, 0)
    feed.write_text("".join(lines[:-5]))
    report = exchanges.sync("file")
    assert (report.upserts, report.unchanged, report.swept) == (0, 45, 5)
    assert len(content_of(database, "file")) == 45


def test_list_resync_restores_content_removed_here(exchanges, database, tmp_path):
    """A held digest belongs to content the bank still has: removing an item
    locally makes its line new again, and the next resync brings it back."""
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    feed.write_text("".join(list_line(i) for i in range(5)))
    add_exchange(exchanges, database, "file", "list", url=str(feed))
    exchanges.sync("file")
    with database.session() as session:
        bank = store.get_bank(session, "followed")
        content = session.scalar(
            select(BankContent).where(BankContent.upstream_id == f"md5:{MD5S[2]}")
        )
        store.remove_content(session, store.get_content(session, bank, content.id))
    feed.write_text("".join(list_line(i) for i in range(6)))
    report = exchanges.sync("file")
    assert (report.upserts, report.unchanged, report.swept) == (2, 4, 0)
    assert set(content_of(database, "file")) == {f"md5:{MD5S[i]}" for i in range(6)}


def test_a_bulk_sync_logs_runs_that_read_back_as_the_tables_hold_them(
    exchanges, database, tmp_path
):
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    values = [hashlib.md5(str(i).encode()).hexdigest() for i in range(2500)]
    feed.write_text("".join(f"md5 {v}\n" for v in values))
    add_exchange(exchanges, database, "bulk", "list", url=str(feed))
    indexes = BankIndexes(default_registry())  # running before the sync: it learns from runs
    with database.session() as session:
        indexes.refresh(session)
    assert exchanges.sync("bulk").upserts == 2500
    with database.session() as session:
        runs = session.execute(
            select(SignalChange.last_signal_id - SignalChange.signal_id + 1)
        ).scalars()
        assert sorted(runs) == [500, 1000, 1000]  # at most changelog.RUN_MAX each
        read = changelog.since(session, 0, 10_000)
        assert not read.more and read.through == changelog.head(session)
        assert [(e.op, e.signal_type, e.value) for e in read.entries] == [
            ("add", "md5", v) for v in values
        ]
        # A limit smaller than a run still moves on by a whole run.
        first = changelog.since(session, 0, 10)
        assert len(first.entries) == 1000 and first.more

        bank = store.get_bank(session, "followed")
        by_value = {
            c.signals[0].value: c
            for c in session.scalars(select(BankContent).where(BankContent.bank_id == bank.id))
        }
        store.update_content(session, by_value[values[0]], enabled=False)
        store.remove_content(session, by_value[values[1]])
    with database.session() as session:
        # Read now, the first run lacks the removed one; each has its own later entry.
        read = changelog.since(session, 0, 10_000)
        adds = [e.value for e in read.entries if e.op == "add"]
        assert adds == [values[0], *values[2:]]
        assert [(e.op, e.value) for e in read.entries[-2:]] == [
            ("remove", values[0]),
            ("remove", values[1]),
        ]
        found = indexes.find(
            session, [Signal("md5", v) for v in (values[0], values[1], values[2], values[-1])]
        )
        assert sorted(m.signal for m in found) == sorted([values[2], values[-1]])


def test_a_run_whose_content_is_gone_still_moves_readers_on(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    feed.write_text("".join(f"md5 {MD5S[i]}\n" for i in range(3)))
    add_exchange(exchanges, database, "bulk", "list", url=str(feed))
    exchanges.sync("bulk")
    with database.session() as session:
        run = changelog.head(session)
        store.delete_bank(session, store.get_bank(session, "followed"))
    with database.session() as session:
        first = changelog.since(session, 0, 1)
        assert (first.entries, first.through, first.more) == ([], run, True)
        rest = changelog.since(session, first.through, 10)
        assert [e.op for e in rest.entries] == ["remove"] * 3 and not rest.more


def test_a_published_feed_pages_by_whole_runs(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "list.jsonl"
    values = [hashlib.md5(f"feed-{i}".encode()).hexdigest() for i in range(1500)]
    feed.write_text(
        "".join(
            json.dumps({"signal_type": "md5", "value": v, "tags": ["csam"]}) + "\n" for v in values
        )
    )
    add_exchange(exchanges, database, "bulk", "list", url=str(feed))
    exchanges.sync("bulk")
    taxonomy = Taxonomy.load()
    with database.session() as session:
        bank = store.get_bank(session, "followed")
        # What came from the list is passed on only from a bank marked so.
        store.update_bank(session, bank, published=True, reshare=True)
    with database.session() as session:
        bank = store.get_bank(session, "followed")
        page = publish.feed(session, bank, taxonomy, 0, 100)
        assert len(page.changes) == 1000 and page.has_more
        rest = publish.feed(session, bank, taxonomy, page.next_after, 1000)
        assert len(rest.changes) == 500 and not rest.has_more
        shared = [(c["op"], c["value"], c["tags"]) for c in page.changes + rest.changes]
        assert shared == [("upsert", v, ["csam"]) for v in values]
        assert publish.feed(session, bank, taxonomy, rest.next_after, 10).changes == []


def test_list_over_http_is_matchable_after_sync(exchanges, database, http_server):
    make_bank(database)
    body = "signal_type,value,tags\n" + "".join(f"pdq,{PDQS[i]},csam\n" for i in range(3))
    server = http_server({"/feed.csv": (200, {}, body.encode())})
    add_exchange(exchanges, database, "web", "list", url=f"{server.url}/feed.csv")
    assert exchanges.sync("web").upserts == 3
    indexes = BankIndexes(default_registry())
    with database.session() as session:
        found = indexes.find(session, [Signal("pdq", PDQS[2], quality=100)])
    assert [(m.bank, m.distance, m.tags) for m in found] == [("followed", 0, ["csam"])]


def test_a_sample_exchange_fills_its_bank_with_every_types_examples(exchanges, database):
    """No address, no credentials, no network: each built-in type's examples, tagged
    `sample`, matchable once synced; a second sync changes nothing."""
    make_bank(database)
    add_exchange(exchanges, database, "demo", "sample")
    examples = {
        (signal_type.name, value)
        for signal_type in BUILT_IN_TYPES.values()
        for value in signal_type.examples
    }
    assert exchanges.sync("demo").upserts == len(examples)
    with database.session() as session:
        stored = session.execute(select(BankSignal.signal_type, BankSignal.value)).all()
        tags = {tuple(tags) for tags in session.scalars(select(BankContent.tags))}
    assert set(stored) == examples
    assert tags == {("sample",)}
    again = exchanges.sync("demo")
    assert again.error is None and again.upserts == 0
    indexes = BankIndexes(default_registry())
    photo = Signal("pdq", PDQ.examples[0], quality=100)
    with database.session() as session:
        assert [m.distance for m in indexes.find(session, [photo])] == [0]


def test_unreachable_list_records_the_error(exchanges, database):
    make_bank(database)
    add_exchange(exchanges, database, "gone", "list", url="http://127.0.0.1:1/nothing")
    report = exchanges.sync("gone")
    assert not report.ok and "cannot connect" in report.error
    with database.session() as session:
        status = exchanges.status(exchanges.get(session, "gone"))
    assert status["consecutive_failures"] == 1 and status["last_error"]
    assert status["last_success_at"] is None


# ThreatExchange -------------------------------------------------------------------------


def te_exchange(exchanges, database, fake, **config):
    add_exchange(
        exchanges,
        database,
        "te",
        "threatexchange",
        url=f"{fake.url}/v9.0",
        credentials=fake.token,
        config={"privacy_group": fake.privacy_group, "page_size": 2} | config,
    )


def test_threatexchange_pages_deletes_and_opinions(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [
        TEUpdate("HASH_PDQ", PDQS[0], 1000, tags=["csam", "A1"]),
        TEUpdate("HASH_MD5", MD5S[0], 2000, statuses=[("2222", "NON_MALICIOUS")]),
        TEUpdate("URI", "https://Example.com/x", 3000),
        TEUpdate("DEBUG_STRING", "hello", 4000),
        TEUpdate("HASH_PDQ", PDQS[1], 5000),
    ]
    te_exchange(exchanges, database, fake)
    report = exchanges.sync("te")
    assert report.ok and report.upserts == 4 and report.skipped_records == 1
    state = content_of(database, "te")
    assert state[f"HASH_PDQ:{PDQS[0]}"] == ([("pdq", PDQS[0])], ["a1", "csam"], True)
    assert state[f"HASH_MD5:{MD5S[0]}"][2] is False  # only a NON_MALICIOUS opinion
    assert state["URI:https://Example.com/x"][0] == [("url", "example.com/x")]
    # The token never appears in what is stored or reported.
    with database.session() as session:
        raw = session.execute(text("SELECT credentials, checkpoint FROM exchanges")).one()
        status = exchanges.status(exchanges.get(session, "te"))
    assert fake.token not in str(raw) and fake.token not in json.dumps(status)
    assert status["has_credentials"] is True

    fake.updates[0] = TEUpdate("HASH_PDQ", PDQS[0], 6000, should_delete=True)
    fake.updates[4] = TEUpdate("HASH_PDQ", PDQS[1], 7000, no_descriptors=True)
    fake.updates.append(TEUpdate("HASH_PDQ", PDQS[2], 8000))
    report = exchanges.sync("te")
    assert not report.full and report.deletes == 2 and report.upserts == 1
    assert f"HASH_PDQ:{PDQS[0]}" not in content_of(database, "te")
    # Incremental: only updates from the checkpoint on were asked for.
    assert fake.requests[-1].query["start_time"] == "5000"


def test_threatexchange_malformed_page_is_skipped(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [TEUpdate("HASH_PDQ", PDQS[i], 1000 * (i + 1)) for i in range(6)]
    fake.garbage_pages = {1}
    te_exchange(exchanges, database, fake)
    report = exchanges.sync("te")
    assert report.ok and report.skipped_pages == 1
    assert "skipped" in report.problems[0]
    assert len(content_of(database, "te")) == 6  # resumed just past the last good update


def test_stale_checkpoint_means_full_resync_that_removes_what_is_gone(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [TEUpdate("HASH_PDQ", PDQS[i], 1000 * (i + 1)) for i in range(4)]
    te_exchange(exchanges, database, fake)
    assert exchanges.sync("te").upserts == 4
    del fake.updates[1]  # deleted upstream, and its tombstone expired long ago
    with database.session() as session:
        exchange = exchanges.get(session, "te")
        exchange.checkpoint = dict(exchange.checkpoint) | {"last_fetch": time.time() - 90 * 86400}
    report = exchanges.sync("te")
    assert report.full and report.swept == 1
    assert sorted(content_of(database, "te")) == sorted(f"HASH_PDQ:{PDQS[i]}" for i in (0, 2, 3))
    assert (
        "start_time" not in fake.requests[-2].query or fake.requests[-2].query["start_time"] == ""
    )


def test_a_full_resync_that_fails_at_once_restarts_from_the_beginning(exchanges, database, fakes):
    """A resync that commits nothing must not resume from the old incremental
    checkpoint: it would read nothing older and then sweep everything."""
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [TEUpdate("HASH_PDQ", PDQS[i], 1000 * (i + 1)) for i in range(4)]
    te_exchange(exchanges, database, fake)
    assert exchanges.sync("te").upserts == 4
    with database.session() as session:
        exchange = exchanges.get(session, "te")
        exchange.checkpoint = dict(exchange.checkpoint) | {"last_fetch": time.time() - 90 * 86400}
    token, fake.token = fake.token, "rotated"  # the resync's first page fails
    failed = exchanges.sync("te")
    assert failed.full and not failed.ok
    fake.token = token
    report = exchanges.sync("te")
    assert report.ok and report.swept == 0
    assert sorted(content_of(database, "te")) == sorted(f"HASH_PDQ:{p}" for p in PDQS[:4])


def test_feedback_reaches_threatexchange_after_a_decision(exchanges, database, fakes, settings):
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [
        TEUpdate(
            "HASH_PDQ", PDQS[0], 1000, statuses=[("2222", "MALICIOUS"), ("12345678", "MALICIOUS")]
        )
    ]
    te_exchange(exchanges, database, fake)
    exchanges.sync("te")
    indexes = BankIndexes(default_registry())
    with database.session() as session:
        matches = indexes.find(session, [Signal("pdq", PDQS[0], quality=100)])
        case = cases.record_matches(session, "upload-1", matches)
        review.decide(
            session, case, "confirm", "token:r", WITH_UNDO, Taxonomy.load(), classification=["csam"]
        )
    assert exchanges.send_feedback().sent == 0  # still inside the undo window
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeFeedback)) == 0
        session.execute(update(CaseDecision).values(effective_at=case.created_at))
        assert review.finalise_due(session, WITH_UNDO) == 1
    assert exchanges.send_feedback().sent == 1
    # A reaction on the other participant's descriptor only, never on our own.
    assert fake.reactions == [("22220", "SAW_THIS_TOO")]


# NCMEC -------------------------------------------------------------------------------------


def ncmec_exchange(exchanges, database, fake, **config):
    add_exchange(
        exchanges,
        database,
        "ncmec",
        "ncmec",
        url=f"{fake.url}/hashsharing",
        credentials="esp:pw",
        config={"start": "2020-01-01T00:00:00Z", "window_days": 400} | config,
    )


def test_ncmec_windows_pages_and_deletes(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeNCMEC)
    base = 1_600_000_000  # 2020-09-13
    fake.entries = [
        NCMECEntry("42", f"image{i}", base + i, fingerprints={"md5": MD5S[i], "pdq": PDQS[i]})
        for i in range(7)
    ] + [
        NCMECEntry(
            "43",
            "video1",
            base + 50,
            media="video",
            fingerprints={"md5": MD5S[50]},
            classification="B2",
        ),
        NCMECEntry("44", "pdna-only", base + 60, fingerprints={"pdna": "abc"}),
    ]
    ncmec_exchange(exchanges, database, fake)
    report = exchanges.sync("ncmec")
    assert report.ok and report.upserts == 8 and report.skipped_records == 1
    state = content_of(database, "ncmec")
    assert state["42-image3"] == (sorted([("md5", MD5S[3]), ("pdq", PDQS[3])]), ["a1"], True)
    assert state["43-video1"][1] == ["b2"]
    pages = [r for r in fake.requests if r.path.endswith("/v2/entries")]
    assert len(pages) > 3 and any("start" in r.query for r in pages)
    with database.session() as session:
        checkpoint = exchanges.get(session, "ncmec").checkpoint
    assert checkpoint["from"] > "2021"  # only whole windows advance it

    fake.entries[2] = NCMECEntry("42", "image2", base + 100, deleted=True)
    fake.entries[4] = NCMECEntry(
        "42", "image4", base + 100, fingerprints={"md5": MD5S[99]}, classification="A2"
    )
    with database.session() as session:
        exchanges.get(session, "ncmec").checkpoint = {"from": "2020-01-01T00:00:00Z"}
    report = exchanges.sync("ncmec")
    assert report.deletes == 1
    state = content_of(database, "ncmec")
    assert "42-image2" not in state
    assert state["42-image4"] == ([("md5", MD5S[99])], ["a2"], True)


def test_ncmec_malformed_page_skips_its_window_and_completes(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeNCMEC)
    fake.entries = [
        NCMECEntry("42", "early", 1_500_000_000, fingerprints={"md5": MD5S[1]}),
        NCMECEntry("42", "late", 1_700_000_000, fingerprints={"md5": MD5S[2]}),
    ]
    fake.garbage_windows = {"2017-01-01T00:00:00Z"}
    ncmec_exchange(exchanges, database, fake, start="2017-01-01T00:00:00Z", window_days=365)
    report = exchanges.sync("ncmec")
    assert report.ok and report.skipped_pages == 1
    assert sorted(content_of(database, "ncmec")) == ["42-late"]


def test_ncmec_feedback(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeNCMEC)
    fake.entries = [
        NCMECEntry("42", "image1", 1_600_000_000, fingerprints={"md5": MD5S[1], "pdq": PDQS[1]})
    ]
    ncmec_exchange(exchanges, database, fake)
    exchanges.sync("ncmec")
    exchanges.settings = exchanges.settings.replace(undo_seconds=0)
    indexes = BankIndexes(default_registry())
    with database.session() as session:
        matches = indexes.find(session, [Signal("md5", MD5S[1])])
        case = cases.record_matches(session, "upload-9", matches)
        review.decide(
            session, case, "reject", "token:r", AT_ONCE, Taxonomy.load(), note="not abuse"
        )
    assert exchanges.send_feedback().sent == 1
    paths = sorted(path for path, _ in fake.feedback)
    assert paths == ["/v2/entries/42/image1/MD5/feedback", "/v2/entries/42/image1/PDQ/feedback"]
    assert all(b"<guid>0000-reason</guid>" in body for _, body in fake.feedback)


# StopNCII -------------------------------------------------------------------------------------


def ncii_exchange(exchanges, database, fake):
    keys = fake.keys
    add_exchange(
        exchanges,
        database,
        "ncii",
        "stopncii",
        url=f"{fake.url}/v1",
        credentials=f"{keys['subscription']}:{keys['fetch']}:{keys['feedback']}",
        config={"page_size": 2},
    )


def test_stopncii_pages_withdrawals_and_feedback(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeStopNCII)
    fake.records = [
        NCIIRecord("ImagePDQ", PDQS[i], 100 + i, feedback_tags=["Nude"]) for i in range(5)
    ] + [NCIIRecord("VideoTMK", "x" * 20, 200)]
    ncii_exchange(exchanges, database, fake)
    report = exchanges.sync("ncii")
    assert report.ok and report.upserts == 5 and report.skipped_records == 1
    assert all(r.headers["x-functions-key"] == "fetch-key" for r in fake.requests)
    state = content_of(database, "ncii")
    assert state[f"ImagePDQ:{PDQS[0]}"][1] == ["Nude"]

    fake.records[0].status, fake.records[0].modified = "Withdrawn", 300
    assert exchanges.sync("ncii").deletes == 1
    assert f"ImagePDQ:{PDQS[0]}" not in content_of(database, "ncii")

    indexes = BankIndexes(default_registry())
    with database.session() as session:
        case = cases.record_matches(
            session, "u", indexes.find(session, [Signal("pdq", PDQS[3], quality=100)])
        )
        review.decide(
            session, case, "confirm", "token:r", AT_ONCE, Taxonomy.load(), classification=["csam"]
        )
    assert exchanges.send_feedback().sent == 1
    assert fake.submitted == [
        {
            "count": 1,
            "hashFeedbacks": [{"hashValue": PDQS[3], "feedbackValue": "Blocked", "tags": ["Nude"]}],
        }
    ]


def test_stopncii_malformed_page_is_skipped(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeStopNCII)
    fake.records = [NCIIRecord("ImagePDQ", PDQS[i], 1000 + i) for i in range(3)]
    fake.garbage_starts = {0}
    ncii_exchange(exchanges, database, fake)
    report = exchanges.sync("ncii")
    assert report.ok and report.skipped_pages == 1 and report.upserts == 3


# Signals beyond media ------------------------------------------------------------------


def matched_ids(database, signals, registry=None):
    """Content ids the banks match for `signals`, and the expression or keyword found."""
    indexes = BankIndexes(registry or default_registry())
    with database.session() as session:
        return sorted(
            (m.content_id, m.expression or m.signal) for m in indexes.find(session, signals)
        )


def test_threatexchange_urls_and_text_strings_arrive_match_and_leave(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [
        TEUpdate("URI", "http://Files.Evil.example/a/../b/", 1000),
        TEUpdate("UNCLICKABLE_URL", "hxxps://drop[.]evil[.]example/x.zip", 2000),
        TEUpdate("TEXT_STRING", "Trade  Pack", 3000),
        TEUpdate("URI", "http://", 4000),  # no host: skipped and counted, not a wedge
        TEUpdate("TEXT_STRING", " ?! ", 5000),  # nothing left once folded
        TEUpdate("RAW_URI", "https://other.example/page?id=7", 6000),
    ]
    te_exchange(exchanges, database, fake)
    report = exchanges.sync("te")
    assert report.ok and report.upserts == 4 and report.skipped_records == 2
    assert any("URI:http://" in problem for problem in report.problems)
    state = content_of(database, "te")
    assert state["URI:http://Files.Evil.example/a/../b/"][0] == [("url", "files.evil.example/b/")]
    assert state["UNCLICKABLE_URL:hxxps://drop[.]evil[.]example/x.zip"][0] == [
        ("url", "drop.evil.example/x.zip")
    ]
    assert state["TEXT_STRING:Trade  Pack"][0] == [("keyword", "trade pack")]

    # A folder entry covers what is under it; the phrase is found folded in a post.
    deep = Signal("url", "files.evil.example/b/c/d.html")
    phrase = Signal("keyword", "selling a TRADE P4CK today")
    assert [found for _, found in matched_ids(database, [deep, phrase])] == [
        "files.evil.example/b/",
        "trade pack",
    ]

    fake.updates[0] = TEUpdate("URI", "http://Files.Evil.example/a/../b/", 7000, should_delete=True)
    fake.updates[2] = TEUpdate("TEXT_STRING", "Trade  Pack", 8000, no_descriptors=True)
    report = exchanges.sync("te")
    assert report.ok and report.deletes == 2
    assert matched_ids(database, [deep, phrase]) == []
    assert sorted(content_of(database, "te")) == [
        "RAW_URI:https://other.example/page?id=7",
        "UNCLICKABLE_URL:hxxps://drop[.]evil[.]example/x.zip",
    ]


def test_stopncii_urls_and_text_arrive_are_withdrawn_and_get_feedback(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeStopNCII)
    fake.records = [
        NCIIRecord("URL", "https://Host.example/Gallery/Item?id=1", 100, feedback_tags=["Nude"]),
        NCIIRecord("Text", "my private name", 101),
        NCIIRecord("URL", "https:///no-host", 102),
    ]
    ncii_exchange(exchanges, database, fake)
    report = exchanges.sync("ncii")
    assert report.ok and report.upserts == 2 and report.skipped_records == 1
    state = content_of(database, "ncii")
    assert state["URL:https://Host.example/Gallery/Item?id=1"][0] == [
        ("url", "host.example/Gallery/Item?id=1")
    ]
    assert state["Text:my private name"][0] == [("keyword", "my private name")]

    indexes = BankIndexes(default_registry())
    with database.session() as session:
        found = indexes.find(session, [Signal("url", "host.example/Gallery/Item?id=1")])
        case = cases.record_matches(session, "u", found)
        review.decide(
            session, case, "confirm", "token:r", AT_ONCE, Taxonomy.load(), classification=["csam"]
        )
    assert exchanges.send_feedback().sent == 1
    # StopNCII is told about the record as it wrote it, not as it is stored here.
    assert fake.submitted[0]["hashFeedbacks"] == [
        {
            "hashValue": "https://Host.example/Gallery/Item?id=1",
            "feedbackValue": "Blocked",
            "tags": ["Nude"],
        }
    ]

    for record in fake.records[:2]:
        record.status, record.modified = "Withdrawn", 300
    assert exchanges.sync("ncii").deletes == 2
    assert content_of(database, "ncii") == {}


def test_a_plain_list_of_urls_accounts_and_phrases(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "list.txt"
    feed.write_text(
        "url http://example.com/Path\n"
        "url http://EXAMPLE.com/path\n"  # another path: paths keep their case
        "url HTTP://example.com:80/Path#top\n"  # the first line again, spelled otherwise
        "keyword meet me after school\n"
        "account email:Someone@Example.org\n"
        "account email:no-domain\n"
        "domain com\n"  # a public suffix, not a site
    )
    add_exchange(exchanges, database, "file", "list", url=str(feed), config={"format": "lines"})
    report = exchanges.sync("file")
    assert report.ok and report.skipped_records == 2
    assert sorted(content_of(database, "file")) == [
        "account:email:someone@example.org",
        "keyword:meet me after school",
        "url:example.com/Path",
        "url:example.com/path",
    ]
    assert any("no-domain" in problem for problem in report.problems)


def test_accounts_from_a_list_arrive_keyed_in_a_keyed_bank(settings, database, tmp_path):
    """The registry holds the keys: the sync keys with them, lookups through the same
    registry match, and a registry without them (in the same process) matches nothing."""
    keyed = default_registry(account_keys={"program": b"a-program-secret-of-some-length"})
    exchanges = Exchanges.build(
        settings, database, keyed, Taxonomy.load(), SecretBox("k"), build_egress(settings)
    )
    with database.session() as session:
        bank = store.create_bank(session, "followed")
        store.update_bank(session, bank, account_key="program", keys=keyed.account_keys)
    feed = tmp_path / "accounts.txt"
    feed.write_text("account email:Seller@Example.org\naccount phone:+44 20 7946 0958\n")
    add_exchange(exchanges, database, "file", "list", url=str(feed))
    assert exchanges.sync("file").upserts == 2
    stored = [signals[0][1] for signals, _, _ in content_of(database, "file").values()]
    assert all(value.startswith("keyed:program:") for value in stored)
    query = [Signal("account", "email:seller@example.org")]
    assert len(matched_ids(database, query, keyed)) == 1
    assert matched_ids(database, query, default_registry()) == []


# Feedback delivery ----------------------------------------------------------------------------


def test_feedback_is_retried_after_a_failure_and_can_be_turned_off(exchanges, database, fakes):
    make_bank(database)
    fake = fakes(FakeStopNCII)
    fake.records = [NCIIRecord("ImagePDQ", PDQS[i], 100 + i) for i in range(2)]
    ncii_exchange(exchanges, database, fake)
    exchanges.sync("ncii")
    indexes = BankIndexes(default_registry())

    def decide(ref, value):
        with database.session() as session:
            case = cases.record_matches(
                session, ref, indexes.find(session, [Signal("pdq", value, quality=100)])
            )
            review.decide(session, case, "reject", "token:r", AT_ONCE, Taxonomy.load())

    decide("first", PDQS[0])
    fake.keys["feedback"] = "rotated"  # the exchange refuses our key: delivery fails
    first = exchanges.send_feedback()
    assert (first.sent, first.retrying) == (0, 1)
    with database.session() as session:
        row = session.scalars(select(ExchangeFeedback)).one()
        assert (row.status, row.attempts) == ("pending", 1) and "401" in row.last_error
        row.next_attempt_at = row.created_at  # due again now
    fake.keys["feedback"] = "feedback-key"
    assert exchanges.send_feedback().sent == 1
    assert fake.submitted[0]["hashFeedbacks"][0]["feedbackValue"] == "NotBlocked"

    with database.session() as session:
        exchanges.update(session, "test", exchanges.get(session, "ncii"), feedback=False)
    decide("second", PDQS[1])
    with database.session() as session:
        assert (
            session.scalar(select(ExchangeFeedback).where(ExchangeFeedback.case_id != row.case_id))
            is None
        )


# Locks ----------------------------------------------------------------------------------------


def test_two_syncs_of_one_exchange_never_run_at_once(exchanges, database, fakes):
    import threading

    make_bank(database)
    fake = fakes(FakeThreatExchange)
    fake.updates = [TEUpdate("HASH_PDQ", PDQS[i], 1000 * (i + 1)) for i in range(6)]
    fake.delay = 0.2
    te_exchange(exchanges, database, fake)
    reports = []
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        reports.append(exchanges.sync("te"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.ran for r in reports) == [False, True]
    assert len(content_of(database, "te")) == 6
    assert exchanges.sync("te").ran  # and the lock is free again afterwards


# Configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs", "code"),
    [
        ("gopher", {}, "invalid_exchange_type"),
        ("list", {}, "invalid_exchange_config"),
        (
            "threatexchange",
            {"credentials": "1|2", "config": {"privacy_group": "abc"}},
            "invalid_exchange_config",
        ),
        ("threatexchange", {"config": {"privacy_group": "1"}}, "missing_credentials"),
        (
            "stopncii",
            {"credentials": "a:b", "config": {"colour": "blue"}},
            "invalid_exchange_config",
        ),
        ("list", {"url": "/x", "interval": 1}, "invalid_interval"),
    ],
)
def test_bad_exchange_configuration(exchanges, database, kind, kwargs, code):
    from core.errors import DomainError

    make_bank(database)
    with database.session() as session, pytest.raises(DomainError) as caught:
        exchanges.add(session, "test", "x", kind, "followed", **kwargs)
    assert caught.value.code == code


def test_removing_an_exchange_removes_its_content_unless_kept(exchanges, database, tmp_path):
    make_bank(database)
    feed = tmp_path / "l.txt"
    feed.write_text("".join(f"md5 {MD5S[i]}\n" for i in range(3)))
    for name in ("one", "two"):
        add_exchange(exchanges, database, name, "list", url=str(feed))
        exchanges.sync(name)
    assert exchanges.remove("one") == 3
    assert exchanges.remove("two", keep_content=True) == 0
    with database.session() as session:
        kept = session.scalars(select(BankContent)).all()
        assert len(kept) == 3 and all(c.exchange_id is None for c in kept)


def test_content_removed_on_appeal_stays_removed_and_its_exchange_is_told(
    exchanges, database, tmp_path
):
    make_bank(database)
    feed = tmp_path / "appeal.jsonl"
    lines = [json.dumps({"signal_type": "md5", "value": v, "tags": ["csam"]}) for v in MD5S[:3]]
    feed.write_text("\n".join(lines) + "\n")
    add_exchange(exchanges, database, "program", "list", url=str(feed))
    assert exchanges.sync("program").upserts == 3
    key = f"md5:{MD5S[1]}"
    with database.session() as session:
        content = session.scalar(select(BankContent).where(BankContent.upstream_id == key))
        with pytest.raises(InvalidInput, match="say why"):
            store.remove_on_appeal(session, content, "  ", "user:curator")
        assert store.remove_on_appeal(session, content, "appeal 42: a cartoon", "user:curator")
    assert key not in content_of(database, "program")
    with database.session() as session:
        [owed] = session.scalars(select(ExchangeFeedback)).all()
        assert (owed.case_id, owed.upstream_id, owed.verdict) == (0, key, "negative")
        assert owed.detail["appeal"] == "appeal 42: a cartoon"
    # The list changes and is read again in full: the item is not added back.
    feed.write_text("\n".join(lines) + "\n" + lines[0] + "\n")
    report = exchanges.sync("program", full=True)
    assert report.ok and report.withheld == 1, report
    assert sorted(content_of(database, "program")) == sorted(f"md5:{v}" for v in (MD5S[0], MD5S[2]))


def test_removal_on_appeal_over_http_is_audited_with_its_reason(api, database, tmp_path):
    assert api.post("/banks", json={"name": "local"}).status_code == 201
    added = api.post("/banks/local/content", json={"signals": [{"type": "md5", "value": MD5S[5]}]})
    content_id = added.get_json()["id"]
    path = f"/banks/local/content/{content_id}/remove-on-appeal"
    assert api.post(path, role="curator", json={}).status_code == 400
    done = api.post(path, role="curator", json={"reason": "appeal upheld"})
    assert done.status_code == 200 and done.get_json() == {
        "removed": content_id,
        "exchange_told": False,  # local content: there is no exchange to tell
    }
    assert api.get(f"/banks/local/content/{content_id}").status_code == 404
    with database.session() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject == "bank:local")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert entry.details["reason"] == "appeal upheld"
    assert entry.details["change"] == "removed on appeal"
