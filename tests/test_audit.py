"""The hash-chained audit log: appends, tamper detection, concurrency and the CLI."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sqlalchemy import select, text

from database import audit
from database.audit import AuditEntry
from hma.db import Database


def fill(database: Database, count: int = 5) -> list[int]:
    """`count` entries, each in its own transaction; their ids, oldest first."""
    ids = []
    for n in range(count):
        with database.session() as session:
            entry = audit.record(
                session,
                f"reviewer-{n % 2}",
                audit.CASE_DECIDE,
                f"case:{n}",
                {"decision": "confirm", "n": n, "note": "überprüft"},
            )
            ids.append(entry.id)
    return ids


def unguard(database: Database) -> None:
    """Drop the append-only triggers, as an attacker with the database owner's
    rights could: what follows is what the chain and the checkpoints must catch."""
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))


def execute(database: Database, sql: str, **params: object) -> None:
    """Change the log behind the application's back."""
    unguard(database)
    with database.engine.begin() as connection:
        connection.execute(text(sql), params)


def set_details(database: Database, entry_id: int, details: dict[str, object]) -> None:
    """Overwrite an entry's details behind the application's back."""
    json_type = "JSONB" if database.engine.dialect.name == "postgresql" else "TEXT"
    execute(
        database,
        f"UPDATE audit_log SET details = CAST(:details AS {json_type}) WHERE id = :id",
        details=json.dumps(details),
        id=entry_id,
    )


def test_empty_log_verifies(database):
    with database.session() as session:
        result = audit.verify(session)
    assert result == audit.AuditVerification(ok=True, checked=0, latest_hash=audit.GENESIS)


def test_entries_chain_and_verify(database):
    ids = fill(database, 5)
    with database.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        result = audit.verify(session)
        small_batches = audit.verify(session, batch=2)
    assert [e.id for e in entries] == ids
    assert entries[0].prev_hash == audit.GENESIS
    for before, after in pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == 5
    assert all(len(e.hash) == 64 and int(e.hash, 16) >= 0 for e in entries)
    assert result.ok and result.checked == 5 and result.latest_hash == entries[-1].hash
    assert result.first_broken_id is None and result.problem is None
    assert small_batches == result


def test_hash_covers_exactly_what_is_stored(database, monkeypatch):
    """The stored timestamp keeps its microseconds on both engines, and JSON
    values that an engine rewrites (tuples, int keys, whole floats, which
    PostgreSQL's JSONB prints as integers) still hash the same when read back."""
    moment = datetime(2026, 5, 9, 7, 35, 25, 1, tzinfo=UTC)
    monkeypatch.setattr(audit, "utcnow", lambda: moment)
    details = {"scores": (1.0, 0.25, 1e20, 2.5e300, 1.5e-7), 7: "int key", "nested": {"b": [1]}}
    with database.session() as session:
        written = audit.record(session, "admin", audit.BANK_CHANGE, "bank:known", details)
        written_id, written_hash = written.id, written.hash
    with database.session() as session:
        stored = session.get(AuditEntry, written_id)
        assert stored is not None
        assert stored.at == moment and stored.at.microsecond == 1
        assert stored.hash == written_hash
        assert written_hash == audit.entry_hash(
            audit.GENESIS, moment, "admin", audit.BANK_CHANGE, "bank:known", stored.details
        )
        assert stored.details["7"] == "int key"
        assert audit.verify(session).ok


def test_changed_details_are_detected(database):
    ids = fill(database, 5)
    set_details(database, ids[2], {"decision": "reject", "n": 2, "note": "überprüft"})
    with database.session() as session:
        result = audit.verify(session)
        in_small_batches = audit.verify(session, batch=2)
    assert not result.ok
    assert result.first_broken_id == ids[2]
    assert result.checked == 2
    assert result.latest_hash is None
    assert result.problem is not None
    assert f"entry {ids[2]} was changed after it was written" in result.problem
    assert in_small_batches == result


def test_changed_actor_and_time_are_detected(database):
    ids = fill(database, 3)
    execute(database, "UPDATE audit_log SET actor = 'someone-else' WHERE id = :id", id=ids[0])
    with database.session() as session:
        assert audit.verify(session).first_broken_id == ids[0]
    execute(database, "UPDATE audit_log SET actor = 'reviewer-0' WHERE id = :id", id=ids[0])
    with database.session() as session:
        assert audit.verify(session).ok
        entry = session.get(AuditEntry, ids[1])
        assert entry is not None
        entry.at = entry.at.replace(microsecond=(entry.at.microsecond + 1) % 1_000_000)
    with database.session() as session:
        assert audit.verify(session).first_broken_id == ids[1]


def test_deleted_entry_in_the_middle_is_detected(database):
    ids = fill(database, 5)
    execute(database, "DELETE FROM audit_log WHERE id = :id", id=ids[2])
    with database.session() as session:
        result = audit.verify(session, batch=2)
    assert not result.ok
    assert result.first_broken_id == ids[3]
    assert result.checked == 2
    assert result.problem is not None
    assert f"entry {ids[3]} does not follow entry {ids[1]}" in result.problem
    assert "removed" in result.problem
    assert f"ids {ids[2]} to {ids[2]} are missing" in result.problem


def test_deleted_first_entry_is_detected(database):
    ids = fill(database, 3)
    execute(database, "DELETE FROM audit_log WHERE id = :id", id=ids[0])
    with database.session() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_broken_id, result.checked) == (False, ids[1], 0)
    assert result.problem is not None and "does not start the chain" in result.problem


def test_changed_hash_is_detected(database):
    ids = fill(database, 4)
    execute(database, "UPDATE audit_log SET hash = :h WHERE id = :id", h="f" * 64, id=ids[1])
    with database.session() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_broken_id, result.checked) == (False, ids[1], 1)
    assert result.problem is not None
    assert f"entry {ids[1]}'s stored hash was changed" in result.problem


def test_changed_newest_hash_is_detected(database):
    ids = fill(database, 3)
    execute(database, "UPDATE audit_log SET hash = :h WHERE id = :id", h="e" * 64, id=ids[-1])
    with database.session() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_broken_id) == (False, ids[-1])
    assert result.problem is not None and "the newest" in result.problem


def test_rewritten_tail_verifies_but_changes_the_latest_hash(database):
    """The documented limit: a rewrite of the whole tail is only caught by
    comparing with a latest hash kept elsewhere."""
    ids = fill(database, 4)
    unguard(database)
    with database.session() as session:
        anchored = audit.verify(session).latest_hash
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        prev = entries[1].hash
        for entry in entries[2:]:
            if entry.id == ids[2]:
                entry.details = {**entry.details, "decision": "reject"}
            entry.prev_hash = prev
            entry.hash = audit.entry_hash(
                prev, entry.at, entry.actor, entry.action, entry.subject, entry.details
            )
            prev = entry.hash
    with database.session() as session:
        result = audit.verify(session)
    assert result.ok and result.checked == 4
    assert result.latest_hash != anchored


def test_recent_is_newest_first_and_filters(database):
    ids = fill(database, 5)
    with database.session() as session:
        audit.record(session, "cli", audit.TOKEN_CREATE, "platform", {"role": "ingest"})
    with database.session() as session:
        newest = audit.recent(session, limit=3)
        by_actor = audit.recent(session, actor="reviewer-0")
        by_action = audit.recent(session, action=audit.TOKEN_CREATE)
        both = audit.recent(session, actor="reviewer-1", action=audit.CASE_DECIDE)
    assert [e.action for e in newest] == [audit.TOKEN_CREATE, audit.CASE_DECIDE, audit.CASE_DECIDE]
    assert [e.id for e in newest[1:]] == [ids[4], ids[3]]
    assert [e.id for e in by_actor] == [ids[4], ids[2], ids[0]]
    assert [(e.actor, e.subject, e.details) for e in by_action] == [
        ("cli", "platform", {"role": "ingest"})
    ]
    assert [e.id for e in both] == [ids[3], ids[1]]


def test_entry_is_kept_only_if_the_transaction_commits(database):
    fill(database, 2)
    with pytest.raises(RuntimeError), database.session() as session:
        audit.record(session, "admin", audit.BANK_DELETE, "bank:gone")
        raise RuntimeError("the action failed")
    with database.session() as session:
        assert [e.action for e in audit.recent(session)] == [audit.CASE_DECIDE] * 2
        assert audit.verify(session).ok
    fill(database, 1)
    with database.session() as session:
        assert audit.verify(session).checked == 3


def test_concurrent_appends_keep_one_chain(database):
    """Two writers, each with its own sessions, append at the same time; the
    lock makes each chain onto the other's committed entries, never fork."""
    per_thread = 50
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def append(actor: str) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                with database.session() as session:
                    audit.record(session, actor, audit.CASE_CLAIM, f"case:{n}", {"n": n})
        except BaseException as exc:  # reported below; a thread's exception is lost otherwise
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    with database.session() as session:
        result = audit.verify(session)
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert result.ok, result.problem
    assert result.checked == 2 * per_thread
    assert len({e.prev_hash for e in entries}) == 2 * per_thread
    for actor in ("alice", "bob"):
        assert [e.details["n"] for e in entries if e.actor == actor] == list(range(per_thread))


# The command line ------------------------------------------------------------


def test_cli_verify_and_log(hma, database_url):
    empty = hma("audit", "verify")
    assert empty.exit_code == 0
    assert empty.stdout.startswith(f"audit log intact: 0 entries, latest hash {audit.GENESIS};")

    assert hma("token", "create", "--name", "platform", "--role", "ingest").exit_code == 0
    assert hma("token", "create", "--name", "partner", "--role", "exchange").exit_code == 0
    assert hma("token", "revoke", "platform").exit_code == 0

    database = Database(database_url)
    try:
        with database.session() as session:
            entries = audit.recent(session)
        assert [(e.actor, e.action, e.subject) for e in entries] == [
            ("cli", audit.TOKEN_REVOKE, "platform"),
            ("cli", audit.TOKEN_CREATE, "partner"),
            ("cli", audit.TOKEN_CREATE, "platform"),
        ]
        assert entries[2].details == {"role": "ingest"}
        head = entries[0]

        intact = hma("audit", "verify")
        assert intact.exit_code == 0
        assert intact.stdout.startswith(f"audit log intact: 3 entries, latest hash {head.hash};")
        # Each command's entry was written down outside the database as it committed.
        assert "agrees with 3 checkpoint(s)" in intact.stdout
        as_json = hma("audit", "verify", "--json")
        assert as_json.exit_code == 0
        assert json.loads(as_json.stdout) == {
            "ok": True,
            "checked": 3,
            "latest_hash": head.hash,
            "first_broken_id": None,
            "problem": None,
            "checkpoints": 3,
            "checkpoint_problems": [],
            "keyed_from_entry": entries[2].id,
        }

        logged = hma("audit", "log", "--limit", "2")
        assert logged.exit_code == 0
        lines = logged.stdout.splitlines()
        assert len(lines) == 2
        assert lines[0].startswith(f"{head.id}\t")
        assert lines[0].endswith("\tcli\ttoken.revoke\tplatform")
        logged_json = hma("audit", "log", "--json", "--action", "token.create")
        records = [json.loads(line) for line in logged_json.stdout.splitlines()]
        assert [(r["subject"], r["details"]) for r in records] == [
            ("partner", {"role": "exchange"}),
            ("platform", {"role": "ingest"}),
        ]

        set_details(database, entries[1].id, {"role": "admin"})
        broken = hma("audit", "verify")
        assert broken.exit_code == 1
        assert f"audit log broken at entry {entries[1].id}:" in broken.stdout
        assert "was changed after it was written" in broken.stdout
        broken_json = hma("audit", "verify", "--json")
        assert broken_json.exit_code == 1
        report = json.loads(broken_json.stdout)
        assert report["ok"] is False
        assert report["first_broken_id"] == entries[1].id
        assert report["checked"] == 1
        assert report["latest_hash"] is None
        assert "changed" in report["problem"]
    finally:
        database.dispose()


# Keyed chain, append-only table, checkpoints ------------------------------------------

KEY = b"k" * 32


def test_the_application_cannot_change_or_delete_entries(database):
    ids = fill(database, 2)
    for sql in (
        "UPDATE audit_log SET actor = 'x' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ):
        with pytest.raises(Exception, match="append-only"), database.engine.begin() as connection:
            connection.execute(text(sql), {"id": ids[0]})
    with database.session() as session:
        assert audit.verify(session).checked == 2


def test_keyed_entries_need_the_key_and_resist_a_rewrite_without_it(database):
    old = fill(database, 2)  # written before the log was keyed
    database.key_audit_log(KEY)
    new = fill(database, 3)
    with database.session() as session:
        result = audit.verify(session)
        keyed = dict(session.execute(select(AuditEntry.id, AuditEntry.keyed)).all())
    assert result.ok and result.checked == 5
    assert [keyed[i] for i in old + new] == [False, False, True, True, True]
    # Without the key nothing keyed can be verified...
    plain = Database(database.url)
    with plain.session() as session:
        assert "needs the key" in (audit.verify(session).problem or "")
    plain.dispose()
    # ...and a rewrite by someone without it breaks the chain: recomputing plain
    # hashes after keyed ones, or HMACs under a guessed key.
    unguard(database)
    for forged_key, why in [(None, "plain hash after keyed"), (b"guess", "changed after")]:
        with database.session() as session:
            entries = session.scalars(
                select(AuditEntry).where(AuditEntry.id >= new[1]).order_by(AuditEntry.id)
            ).all()
            prev = entries[0].prev_hash
            for entry in entries:
                entry.details = {**entry.details, "decision": "reject"}
                entry.keyed = forged_key is not None
                entry.prev_hash = prev
                entry.hash = audit.entry_hash(
                    prev,
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.subject,
                    entry.details,
                    forged_key,
                )
                prev = entry.hash
        with database.session() as session:
            result = audit.verify(session)
        assert not result.ok and result.first_broken_id == new[1], result
        assert why in (result.problem or ""), result.problem


def test_a_rewrite_with_the_key_is_caught_by_the_checkpoints(hma, database_url, tmp_path):
    assert hma("bank", "create", "one").exit_code == 0
    assert hma("bank", "create", "two").exit_code == 0
    written = hma("audit", "checkpoint")
    assert written.exit_code == 0 and "checkpoint: entry 2" in written.stdout
    checkpoints = tmp_path / "data" / "audit-checkpoints.jsonl"
    assert oct(checkpoints.stat().st_mode & 0o777) == "0o600"
    assert hma("audit", "verify").exit_code == 0
    # Someone with the database and the key rewrites the whole log: the chain
    # verifies, but no longer passes through the head written down.
    database = Database(database_url)
    unguard(database)
    from hma.secrets import audit_chain_key
    from hma.settings import load_settings

    key = audit_chain_key(load_settings(data_dir=tmp_path / "data"))
    with database.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        prev = audit.GENESIS
        for entry in entries:
            entry.subject = entry.subject.replace("one", "uno")
            entry.prev_hash = prev
            entry.hash = audit.entry_hash(
                prev, entry.at, entry.actor, entry.action, entry.subject, entry.details, key
            )
            prev = entry.hash
    database.dispose()
    verified = hma("audit", "verify")
    assert verified.exit_code == 1
    assert "rewritten" in verified.stdout and "entry 2" in verified.stdout


def test_a_downgrade_to_plain_hashes_is_caught_from_the_first_entry(hma, database_url, tmp_path):
    """Without the key, someone who can write the database drops the triggers, cuts the
    newest entry, marks every entry unkeyed and re-chains the log with plain SHA-256,
    before any hourly checkpoint was due: the checkpoint file says from which entry the
    log is keyed, and holds each entry as it committed."""
    for name in ("one", "two", "three"):
        assert hma("bank", "create", name).exit_code == 0
    checkpoints = tmp_path / "data" / "audit-checkpoints.jsonl"
    first_line = json.loads(checkpoints.read_text().splitlines()[0])
    assert first_line["keyed_from_entry"] == 1
    database = Database(database_url)
    execute(database, "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)")
    with database.session() as session:
        prev = audit.GENESIS
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all():
            entry.keyed = False
            entry.prev_hash = prev
            entry.hash = audit.entry_hash(
                prev, entry.at, entry.actor, entry.action, entry.subject, entry.details
            )
            prev = entry.hash
    database.dispose()
    verified = hma("audit", "verify")
    assert verified.exit_code == 1
    assert "audit log broken at entry 1" in verified.stdout
    assert "says the log is keyed from entry 1" in verified.stdout
    # Without that line, the entries written down as they committed still disagree.
    kept = [line for line in checkpoints.read_text().splitlines() if "keyed_from" not in line]
    checkpoints.write_text("\n".join(kept) + "\n")
    verified = hma("audit", "verify")
    assert verified.exit_code == 1 and "rewritten" in verified.stdout


def test_entries_cut_from_the_end_leave_a_trace(hma, database_url):
    for name in ("one", "two"):
        assert hma("bank", "create", name).exit_code == 0
    database = Database(database_url)
    execute(database, "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)")
    database.dispose()
    verified = hma("audit", "verify")
    assert verified.exit_code == 1
    assert "entry 2" in verified.stdout and "is gone" in verified.stdout
