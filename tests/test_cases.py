"""Cases: one per unresolved upload, extended by rescans, closed by decisions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from actioners import cases, queue, review
from actioners.models import Case
from actioners.priority import case_priority
from banks.lookup import BankMatch
from banks.taxonomy import shipped_taxonomy
from core.errors import CaseClosed, CaseNotFound, InvalidInput
from database import utcnow
from database.audit import AuditEntry
from hma.db import Database, ensure_schema, refresh_statistics

#: Decisions act at once, with no second reviewer: these tests are about cases.
AT_ONCE = review.ReviewPolicy(undo_seconds=0, two_person_rule=False)


def decide(session, case, decision, note, who):
    return review.decide(session, case, decision, who, AT_ONCE, shipped_taxonomy(), note=note)


def match(signal_id: int, distance: int = 0, query: str = "q") -> BankMatch:
    return BankMatch(
        bank="bank",
        bank_id=1,
        content_id=signal_id * 10,
        signal_id=signal_id,
        signal_type="pdq",
        signal=f"s{signal_id}",
        query_signal=query,
        distance=distance,
        tags=["csam"],
    )


def test_no_matches_no_case(database):
    with database.session() as session:
        assert cases.record_matches(session, "upload-1", []) is None
        assert queue.page(session) == ([], 0)


def test_rescans_extend_the_unresolved_case(database):
    with database.session() as session:
        first = cases.record_matches(session, "upload-1", [match(1, 20)], {"user": "u1"})
        case_id = first.id
    with database.session() as session:
        again = cases.record_matches(session, "upload-1", [match(1, 20), match(2, 3)], {"ip": "x"})
        assert again.id == case_id
    with database.session() as session:
        case = cases.get_case(session, case_id)
        assert [(m.signal_id, m.distance) for m in case.matches] == [(1, 20), (2, 3)]
        assert case.details == {"user": "u1", "ip": "x"}
        assert case.priority == case_priority(case.matches, shipped_taxonomy())[0]


def test_priority_orders_the_queue(database):
    with database.session() as session:
        cases.record_matches(session, "far", [match(1, 30)])
        cases.record_matches(session, "exact", [match(2, 0)])
        cases.record_matches(session, "near", [match(3, 8)])
    with database.session() as session:
        page, total = queue.page(session)
    assert total == 3
    assert [c.content_ref for c in page] == ["exact", "near", "far"]


def test_decisions(database):
    with database.session() as session:
        case = cases.record_matches(session, "upload-1", [match(1)])
    with database.session() as session:
        case = cases.get_case(session, case.id)
        decide(session, case, "escalate", "needs a second look", "token:alice")
    with database.session() as session:
        case = cases.get_case(session, case.id)
        assert case.status == "escalated"
        # Still the unresolved case for this upload.
        assert cases.record_matches(session, "upload-1", [match(2)]).id == case.id
        decide(session, case, "confirm", "", "token:bob")
    with database.session() as session:
        case = cases.get_case(session, case.id)
        assert (case.status, case.decision) == ("closed", "confirm")
        assert case.closed_at is not None
        assert [(d.decision, d.decided_by) for d in case.decisions] == [
            ("escalate", "token:alice"),
            ("confirm", "token:bob"),
        ]
        with pytest.raises(CaseClosed):
            decide(session, case, "reject", "", "token:carol")
    with database.session() as session:
        newer = cases.record_matches(session, "upload-1", [match(1)])
        assert newer.id != case.id


@pytest.mark.parametrize(
    ("decision", "note"), [("delete", ""), ("confirm", 42), ("confirm", "x" * 10_001)]
)
def test_invalid_decisions(database, decision, note):
    with database.session() as session:
        case = cases.record_matches(session, "upload-1", [match(1)])
        with pytest.raises(InvalidInput):
            decide(session, case, decision, note, "token:x")


def test_unknown_case_and_bad_filters(database):
    with database.session() as session:
        with pytest.raises(CaseNotFound):
            cases.get_case(session, 12345)
        with pytest.raises(InvalidInput):
            queue.page(session, status="decided")
        with pytest.raises(InvalidInput):
            queue.page(session, limit=0)
    with pytest.raises(InvalidInput):
        cases.validate_content_ref("")
    with pytest.raises(InvalidInput):
        cases.validate_content_ref("x" * 513)


def test_concurrent_scans_of_one_upload_open_one_case(database):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def scan(signal_id: int) -> None:
        try:
            barrier.wait()
            with database.session() as session:
                cases.record_matches(session, "same-upload", [match(signal_id)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        page, total = queue.page(session, status="all")
    assert total == 1
    assert sorted(m.signal_id for m in page[0].matches) == [1, 2, 3, 4]


def test_concurrent_decisions_one_wins(database):
    with database.session() as session:
        case_id = cases.record_matches(session, "upload", [match(1)]).id
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def decide_as(who: str) -> None:
        barrier.wait()
        try:
            with database.session() as session:
                decide(session, cases.get_case(session, case_id), "confirm", "", who)
            outcomes.append("decided")
        except CaseClosed:
            outcomes.append("closed")

    threads = [threading.Thread(target=decide_as, args=(f"token:{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["closed", "closed", "decided"]
    with database.session() as session:
        assert len(cases.get_case(session, case_id).decisions) == 1


def test_a_rescan_never_touches_a_waiting_decision(database):
    """An ingest token rescanning an upload whose decision waits cannot set that
    decision aside: new matches open a follow-up case, reviewed on its own."""
    waiting = review.ReviewPolicy(undo_seconds=60, two_person_rule=False)
    with database.session() as session:
        case = cases.record_matches(session, "upload-1", [match(1)])
        review.decide(session, case, "reject", "token:x", waiting, shipped_taxonomy())
        case_id = case.id
    with database.session() as session:
        same = cases.record_matches(session, "upload-1", [match(1)])
        assert same.id == case_id and same.status == "pending"  # nothing new
        follow = cases.record_matches(session, "upload-1", [match(1), match(2)])
        assert follow.id != case_id and follow.status == "open"
        assert [m.signal_id for m in follow.matches] == [2]
        assert follow.details["follows_case"] == case_id
        again = cases.record_matches(session, "upload-1", [match(3)])
        assert again.id == follow.id
        assert sorted(m.signal_id for m in again.matches) == [2, 3]
        original = cases.get_case(session, case_id)
        assert [d.state for d in original.decisions] == ["pending"]
        assert review.finalise_due(session, waiting, utcnow() + timedelta(hours=1)) == 1
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert "case.follow_up" in actions and "case.reopened" not in actions


def test_undoing_a_decision_takes_in_its_follow_up(database):
    waiting = review.ReviewPolicy(undo_seconds=60, two_person_rule=False)
    with database.session() as session:
        case = cases.record_matches(session, "upload-2", [match(1)])
        review.decide(session, case, "reject", "token:x", waiting, shipped_taxonomy())
        case_id = case.id
        follow_id = cases.record_matches(session, "upload-2", [match(2)]).id
    with database.session() as session:
        review.undo(session, cases.get_case(session, case_id), "token:x", waiting)
        merged = cases.get_case(session, case_id)
        assert merged.status == "open"
        assert sorted(m.signal_id for m in merged.matches) == [1, 2]
        assert session.get(Case, follow_id) is None
        # The upload has one case awaiting review again: a rescan adds to it.
        assert cases.record_matches(session, "upload-2", [match(3)]).id == case_id


def test_the_queue_reads_the_top_of_the_rank_index_on_sqlite(tmp_path):
    """With the statistics the scheduler keeps, SQLite ranks the queue from the rank
    index, not by reading every unresolved case through the status index."""
    database = Database(f"sqlite:///{tmp_path / 'queue.db'}")
    ensure_schema(database.engine)
    with database.session() as session:
        session.add_all(
            Case(content_ref=f"upload-{n}", priority=n % 90, status=("open", "closed")[n % 2])
            for n in range(2000)
        )
    refresh_statistics(database.engine)
    statements = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    with database.session() as session:
        queue.page(session, limit=10, queues={"default"})
        queue.next_free(session, "user:alice", {"default"})
    event.remove(database.engine, "before_cursor_execute", seen)
    ranking = [(s, p) for s, p in statements if "ORDER BY" in s and "FROM cases" in s]
    assert len(ranking) == 4  # the n-th priority and the ranking, for each call
    with database.engine.connect() as connection:
        for statement, parameters in ranking:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = " ".join(row[-1] for row in plan)
            assert "ix_cases_rank" in details, (statement, details)
    database.dispose()
