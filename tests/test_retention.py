"""Retention: the media and closed cases whose time is up are deleted, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from actioners import cases, retention, review
from actioners.media import keep_reduced_copy
from actioners.models import Case, CaseDecision, CaseMatch, CaseMedia, Exposure
from actioners.retention import RetentionPolicy
from actioners.webhooks import queue_webhook
from banks.taxonomy import Taxonomy
from database import audit, utcnow
from database.audit import AuditEntry
from tests.conftest import fixture_bytes
from tests.exchange_servers import wait_until
from tests.test_review import hit

POLICY = RetentionPolicy(keep_rejected_media=False, media_days=90, case_days=730)
AT_ONCE = review.ReviewPolicy(undo_seconds=0, two_person_rule=False)
TAX = Taxonomy.load()


def case_with_media(database, ref: str, decision: str | None, closed_days_ago: int = 0) -> int:
    """A case with a kept copy; decided and closed `closed_days_ago` days ago if `decision`."""
    with database.session() as session:
        case = cases.record_matches(session, ref, [hit()], taxonomy=TAX)
        assert keep_reduced_copy(session, case, fixture_bytes("aaa-orig.jpg"), 64)
        session.add(Exposure(reviewer="user:r", case_id=case.id, revealed=False))
        if decision is not None:
            extra = {"classification": ["csam"]} if decision == "confirm" else {}
            reason = {"reason": "not_violating"} if decision == "reject" else {}
            review.decide(session, case, decision, "user:r", AT_ONCE, TAX, **extra, **reason)
            session.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(closed_at=utcnow() - timedelta(days=closed_days_ago))
            )
        return case.id


def has_media(database, case_id: int) -> bool:
    with database.session() as session:
        found = session.scalar(select(CaseMedia.id).where(CaseMedia.case_id == case_id))
        return found is not None


def exists(database, case_id: int) -> bool:
    with database.session() as session:
        return session.get(Case, case_id) is not None


def test_a_rejection_deletes_the_kept_copy_when_it_takes_effect(database):
    rejected = case_with_media(database, "fp", "reject")
    confirmed = case_with_media(database, "abuse", "confirm")
    assert not has_media(database, rejected)
    assert has_media(database, confirmed)
    kept = review.ReviewPolicy(undo_seconds=0, two_person_rule=False, keep_rejected_media=True)
    with database.session() as session:
        case = cases.record_matches(session, "fp-kept", [hit()], taxonomy=TAX)
        keep_reduced_copy(session, case, fixture_bytes("aaa-orig.jpg"), 64)
        review.decide(session, case, "reject", "user:r", kept, TAX, reason="not_violating")
        kept_id = case.id
    assert has_media(database, kept_id)


def test_a_run_deletes_exactly_what_is_due_and_audits_once(database):
    open_case = case_with_media(database, "open", None)
    recent = case_with_media(database, "recent", "confirm", closed_days_ago=10)
    media_due = case_with_media(database, "media-due", "confirm", closed_days_ago=100)
    case_due = case_with_media(database, "case-due", "confirm", closed_days_ago=800)
    owed = case_with_media(database, "owed", "confirm", closed_days_ago=800)
    with database.session() as session:
        owed_case = session.get(Case, owed)
        [decision] = owed_case.decisions
        queue_webhook(session, owed_case, decision, "https://platform.example/hook")

    with database.session() as session:
        report = retention.run(session, POLICY)
    assert (report.media_deleted, report.cases_deleted, report.cases_waiting) == (3, 1, 1)
    assert has_media(database, open_case) and has_media(database, recent)
    assert not has_media(database, media_due) and exists(database, media_due)
    assert not exists(database, case_due)
    assert exists(database, owed) and not has_media(database, owed)
    with database.session() as session:
        for model in (CaseMatch, CaseDecision, Exposure):
            left = session.scalar(
                select(func.count()).select_from(model).where(model.case_id == case_due)
            )
            assert left == 0, model
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == audit.RETENTION_RUN)
        ).all()
        assert entry.details["cases_deleted"] == 1 and entry.details["media_deleted"] == 3
        assert audit.verify(session).ok

    # Nothing is due any more: a second run deletes nothing.
    with database.session() as session:
        again = retention.run(session, POLICY)
    assert (again.media_deleted, again.cases_deleted) == (0, 0)


def test_zero_keeps_for_ever(database):
    old = case_with_media(database, "old", "confirm", closed_days_ago=5000)
    with database.session() as session:
        report = retention.run(session, RetentionPolicy(media_days=0, case_days=0))
    assert (report.media_deleted, report.cases_deleted) == (0, 0)
    assert has_media(database, old)


def test_the_cli_runs_it(hma):
    done = hma("retention", "run")
    assert done.exit_code == 0, done.stderr
    assert "deleted the media of 0 case(s) and 0 closed case(s)" in done.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_deleted_copy_leaves_neither_the_database_file_nor_its_log(database):
    """SQLite keeps deleted pages in its write-ahead log until a checkpoint, and in free
    pages of the file after: the copy of a rejected upload must be gone from both."""
    with database.session() as session:
        case = cases.record_matches(session, "fp", [hit()], taxonomy=TAX)
        assert keep_reduced_copy(session, case, fixture_bytes("aaa-orig.jpg"), 64)
        case_id = case.id
    with database.session() as session:
        stored = session.scalar(select(CaseMedia.data).where(CaseMedia.case_id == case_id))
    sample = bytes(stored)[len(stored) // 2 : len(stored) // 2 + 48]
    path = Path(make_url(database.url).database)
    files = (path, path.with_name(path.name + "-wal"))

    def anywhere() -> bool:
        return any(f.exists() and sample in f.read_bytes() for f in files)

    assert anywhere()
    with database.session() as session:
        decided = session.get(Case, case_id)
        review.decide(session, decided, "reject", "user:r", AT_ONCE, TAX, reason="not_violating")
    assert not has_media(database, case_id)
    wait_until(lambda: not anywhere(), timeout=10)
