"""Working the review queue: priority, leases, the undo window, the two-person rule, audit."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from actioners import cases, queue, review
from actioners.models import Case, WebhookDelivery
from banks.lookup import BankMatch
from banks.models import Bank, BankContent, BankSignal, Exchange, ExchangeFeedback
from banks.taxonomy import shipped_taxonomy
from core.errors import CaseClosed, CaseHeld, InvalidInput, NotAllowed
from database import audit, utcnow
from database.audit import AuditEntry

TAX = shipped_taxonomy()
#: One minute to undo, no second reviewer, decisions announced by webhook.
UNDO = review.ReviewPolicy(
    undo_seconds=60, two_person_rule=False, webhook_url="http://127.0.0.1:9/hook"
)
#: One minute to undo, and the two-person rule.
TWO = review.ReviewPolicy(undo_seconds=60, two_person_rule=True)
TWO_AT_ONCE = review.ReviewPolicy(undo_seconds=0, two_person_rule=True)
AT_ONCE = review.ReviewPolicy(undo_seconds=0, two_person_rule=False)

_ids = itertools.count(1)


def hit(tags=("csam",), distance=20, signal_type="pdq", bank="bank", content_id=None) -> BankMatch:
    """One bank match; by default a PDQ match at distance 20 tagged "csam"."""
    n = next(_ids)
    return BankMatch(
        bank=bank,
        bank_id=1,
        content_id=content_id if content_id is not None else 100_000 + n,
        signal_id=n,
        signal_type=signal_type,
        signal=f"s{n}",
        query_signal="q",
        distance=distance,
        tags=list(tags),
    )


def make_case(database, ref: str, *matches: BankMatch) -> int:
    with database.session() as session:
        return cases.record_matches(session, ref, list(matches) or [hit()], taxonomy=TAX).id


def bank_content(database, *, exchange: bool, feedback: bool = True) -> int:
    """A piece of bank content, from a (feedback-enabled) exchange or local; its id."""
    n = next(_ids)
    with database.session() as session:
        bank = Bank(name=f"bank-{n}")
        session.add(bank)
        session.flush()
        content = BankContent(bank_id=bank.id, tags=["csam"])
        if exchange:
            ex = Exchange(name=f"ex-{n}", type="list", bank_id=bank.id, feedback_enabled=feedback)
            session.add(ex)
            session.flush()
            content.exchange_id, content.upstream_id = ex.id, f"up-{n}"
            content.source = f"exchange:ex-{n}"
        content.signals.append(BankSignal(bank_id=bank.id, signal_type="md5", value=f"{n:032x}"))
        session.add(content)
        session.flush()
        return content.id


def get(session, case_id: int) -> Case:
    return cases.get_case(session, case_id)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# Priority ---------------------------------------------------------------------------


def test_severity_ranks_highest_then_primary_then_other(database):
    make_case(database, "other", hit(["benign"]))
    make_case(database, "highest", hit(["csam_egregious"]))
    make_case(database, "primary", hit(["csam"]))
    with database.session() as session:
        page, total = queue.page(session)
    assert total == 3
    assert [(c.content_ref, c.priority) for c in page] == [
        ("highest", 50 + 21),
        ("primary", 30 + 21),
        ("other", 10 + 21),
    ]


def test_exact_match_and_agreeing_banks_raise_confidence(database):
    make_case(database, "pdq", hit(distance=20))
    make_case(database, "exact", hit(distance=0, signal_type="md5"))
    make_case(database, "two banks", hit(bank="a"), hit(bank="b"))
    make_case(database, "four banks", *(hit(bank=b) for b in "abcd"))
    with database.session() as session:
        page, _total = queue.page(session)
    assert [(c.content_ref, c.priority) for c in page] == [
        ("four banks", 51 + 10),  # agreement is capped at 10
        ("exact", 30 + 30),
        ("two banks", 51 + 5),
        ("pdq", 30 + 21),
    ]
    agreement = [r for r in page[2].priority_reasons if r["factor"] == "agreement"]
    assert agreement[0]["points"] == 5


def test_a_trusted_bank_raises_confidence(database):
    with database.session() as session:
        trusted = Bank(name="trusted-source", trust=8)
        session.add(trusted)
        session.flush()
        bank_id = trusted.id
    plain = make_case(database, "plain", dataclasses.replace(hit(), bank_id=bank_id + 1))
    match = hit(bank="trusted-source")
    trusted_case = make_case(database, "trusted", dataclasses.replace(match, bank_id=bank_id))
    with database.session() as session:
        assert get(session, trusted_case).priority == get(session, plain).priority + 8
        reasons = {r["factor"]: r for r in get(session, trusted_case).priority_reasons}
        assert reasons["trust"]["points"] == 8 and "trusted-source" in reasons["trust"]["why"]
        assert queue.page(session)[0][0].id == trusted_case


def test_age_adds_at_most_ten_points_when_ranking(database):
    old = make_case(database, "old", hit())  # 51 stored
    plus5 = make_case(database, "plus5", hit(bank="a"), hit(bank="b"))  # 56
    plus20 = make_case(database, "plus20", hit(["csam_egregious"]))  # 71
    now = utcnow()
    with database.session() as session:
        session.execute(
            update(Case).where(Case.id == old).values(created_at=now - timedelta(hours=30))
        )
    with database.session() as session:
        # 30 hours of waiting count as 10 points, not 30.
        ranked = queue.page(session, now=now)[0]
        assert [(c.id, cases.explain(c, now)[0]) for c in ranked] == [
            (plus20, 71),
            (old, 61),
            (plus5, 56),
        ]
        # Three hours after creation the old case is still behind by two points.
        three_hours = now - timedelta(hours=27)
        assert [c.id for c in queue.page(session, now=three_hours)[0]] == [plus20, plus5, old]
        # Each full hour is a point: at 5.5 hours the old case (51 + 5) ties with plus5
        # (56) and, older, comes first; the database ranks as `explain` scores.
        five_and_a_half = now - timedelta(hours=24.5)
        ranked = queue.page(session, now=five_and_a_half)[0]
        assert [c.id for c in ranked] == [plus20, old, plus5]
        assert [cases.explain(c, five_and_a_half)[0] for c in ranked] == [71, 56, 56]

        score, reasons = cases.explain(get(session, old), now)
    assert score == 61 == sum(r["points"] for r in reasons)
    assert [r["factor"] for r in reasons] == ["severity", "confidence", "age"]
    assert all(set(r) == {"factor", "points", "why"} and r["why"] for r in reasons)
    assert reasons[-1]["points"] == 10


# Leases -----------------------------------------------------------------------------


def test_leases_claim_expire_release_and_reassign(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        case = review.claim(session, get(session, case_id), "alice", UNDO)
        assert case.claimed_by == "alice"
        assert case.lease_expires_at > utcnow() + timedelta(seconds=290)
    with database.session() as session:
        case = get(session, case_id)
        with pytest.raises(CaseHeld):
            review.claim(session, case, "bob", UNDO)
        with pytest.raises(CaseHeld):
            review.decide(session, case, "reject", "bob", UNDO, TAX)
        assert review.claim(session, case, "alice", UNDO).claimed_by == "alice"  # renewal
    with database.session() as session:
        session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    with database.session() as session:
        assert review.claim(session, get(session, case_id), "bob", UNDO).claimed_by == "bob"
    with database.session() as session:
        case = get(session, case_id)
        with pytest.raises(NotAllowed):
            review.release(session, case, "alice")
        case = review.release(session, case, "carol", admin=True)
        assert (case.claimed_by, case.lease_expires_at) == (None, None)
    with database.session() as session:
        # A bare name means a console user, as the console names its reviewers.
        case = review.reassign(session, get(session, case_id), "dave", "carol", UNDO)
        assert (case.claimed_by, case.assigned_to) == ("user:dave", "user:dave")
        assert case.lease_expires_at > utcnow()
        with pytest.raises(CaseHeld):
            review.claim(session, case, "bob", UNDO)
        review.decide(session, case, "reject", "user:dave", AT_ONCE, TAX)
    with database.session() as session:
        case = get(session, case_id)
        assert case.status == "closed"
        with pytest.raises(CaseClosed):
            review.claim(session, case, "user:dave", UNDO)
        with pytest.raises(CaseClosed):
            review.reassign(session, case, "erin", "carol", UNDO)


def test_next_case_skips_any_number_of_held_cases(database):
    """More than a page of higher-ranked cases held by others (or handed to someone
    else, or in another queue) must not hide the free one below them."""
    free = make_case(database, "free one", hit())  # 51 points
    lease = utcnow() + timedelta(hours=1)
    with database.session() as session:
        session.add_all(
            Case(
                content_ref=f"held-{n}",
                priority=90,
                claimed_by="bob",
                lease_expires_at=lease,
                assigned_to="bob" if n % 3 == 0 else None,
                queue="senior" if n % 7 == 0 else "default",
                status="escalated" if n % 7 == 0 else "open",
            )
            for n in range(queue.MAX_PAGE + 20)
        )
        session.add(Case(content_ref="given to bob", priority=95, assigned_to="user:bob"))
        session.add(Case(content_ref="senior's", priority=99, queue="senior", status="escalated"))
    alice = review.visible_queues("alice", "reviewer")
    with database.session() as session:
        assert queue.next_free(session, "user:alice", alice).id == free
        taken = review.take_next(session, "user:alice", alice, UNDO)
        assert (taken.id, taken.claimed_by) == (free, "user:alice")
    with database.session() as session:
        # Nothing else waits for alice: her own claim aside, every case is held,
        # handed to bob, or in a queue she is not in.
        assert queue.next_free(session, "user:alice", alice).id == free  # still hers
        review.decide(session, get(session, free), "reject", "user:alice", UNDO, TAX)
    with database.session() as session:
        assert review.take_next(session, "user:alice", alice, UNDO) is None
        # An admin sees every queue: the senior queue's free case is next for them.
        assert queue.next_free(session, "user:root", None).content_ref == "senior's"


def test_next_case_passes_over_one_taken_meanwhile(database, monkeypatch):
    first = make_case(database, "first", hit(["csam_egregious"]))
    second = make_case(database, "second", hit())
    with database.session() as session:
        stale = queue.next_free(session, "user:alice", None)
        assert stale.id == first
        review.claim(session, get(session, first), "user:bob", UNDO)
    with database.session() as session:
        calls = []
        real_next_free = queue.next_free

        def racing(session, reviewer, queues, now=None):
            calls.append(reviewer)
            # The first look happens before bob's claim is seen: it offers the
            # case bob holds, and the claim must lose cleanly and look again.
            if len(calls) == 1:
                return get(session, first)
            return real_next_free(session, reviewer, queues)

        monkeypatch.setattr(review, "next_free", racing)
        taken = review.take_next(session, "user:alice", None, UNDO)
        assert taken.id == second and len(calls) == 2
        assert get(session, first).claimed_by == "user:bob"


def test_queue_counts_only_what_the_reviewer_may_see(database):
    make_case(database, "a", hit())
    with database.session() as session:
        session.add(Case(content_ref="senior", queue="senior", status="escalated"))
    with database.session() as session:
        assert queue.counts(session, review.visible_queues("alice", "reviewer")) == {"open": 1}
        assert queue.counts(session, None) == {"open": 1, "escalated": 1}


# The undo window --------------------------------------------------------------------


def test_undo_window_then_finalisation(database):
    content_id = bank_content(database, exchange=True)
    case_id = make_case(database, "upload", hit(content_id=content_id))
    with database.session() as session:
        first = review.decide(session, get(session, case_id), "confirm", "alice", UNDO, TAX)
        assert first.state == "pending"
        assert first.effective_at > utcnow() + timedelta(seconds=50)
        assert get(session, case_id).status == "pending"
    with database.session() as session:
        assert review.finalise_due(session, UNDO, now=utcnow()) == 0
        assert count(session, ExchangeFeedback) == count(session, WebhookDelivery) == 0
        with pytest.raises(NotAllowed):
            review.undo(session, get(session, case_id), "bob", UNDO)
        undone = review.undo(session, get(session, case_id), "alice", UNDO)
        assert undone.state == "undone"
    with database.session() as session:
        case = get(session, case_id)
        assert (case.status, case.claimed_by, case.decision) == ("open", "alice", None)
        second = review.decide(session, case, "confirm", "alice", UNDO, TAX)
    with database.session() as session:
        assert count(session, ExchangeFeedback) == count(session, WebhookDelivery) == 0
        due = second.effective_at + timedelta(seconds=1)
        assert review.finalise_due(session, UNDO, now=due) == 1
    with database.session() as session:
        case = get(session, case_id)
        assert (case.status, case.decision) == ("closed", "confirm")
        assert case.closed_at is not None and case.claimed_by is None
        assert [d.state for d in case.decisions] == ["undone", "effective"]
        [feedback] = session.scalars(select(ExchangeFeedback)).all()
        assert (feedback.case_id, feedback.verdict) == (case_id, "positive")
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        assert (delivery.case_id, delivery.decision_id) == (case_id, second.id)
        with pytest.raises(CaseClosed):
            review.undo(session, case, "alice", UNDO)
        assert review.finalise_due(session, UNDO, now=due) == 0


def test_an_admin_may_undo_someone_elses_decision(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        review.decide(session, get(session, case_id), "reject", "alice", UNDO, TAX)
        record = review.undo(session, get(session, case_id), "carol", UNDO, admin=True)
        assert record.state == "undone"
        assert get(session, case_id).claimed_by == "carol"


# The two-person rule ----------------------------------------------------------------


def test_most_severe_confirmation_waits_for_a_second_reviewer(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        record = review.decide(
            session,
            get(session, case_id),
            "confirm",
            "alice",
            TWO,
            TAX,
            classification=["csam_egregious"],
        )
        assert (record.state, record.effective_at) == ("awaiting_second", None)
        assert get(session, case_id).status == "pending"
    with database.session() as session:
        assert review.finalise_due(session, TWO, now=utcnow() + timedelta(days=1)) == 0
        with pytest.raises(NotAllowed):
            review.approve(session, get(session, case_id), "alice", TWO)
        approved = review.approve(session, get(session, case_id), "bob", TWO)
        assert (approved.state, approved.approved_by) == ("pending", "bob")
        assert approved.effective_at > utcnow() + timedelta(seconds=50)
    with database.session() as session:
        assert review.finalise_due(session, TWO, approved.effective_at + timedelta(seconds=1)) == 1
        assert get(session, case_id).status == "closed"


def test_approval_without_undo_window_acts_at_once(database):
    case_id = make_case(database, "upload", hit(["a1"]))
    with database.session() as session:
        record = review.decide(session, get(session, case_id), "confirm", "alice", TWO_AT_ONCE, TAX)
        assert record.state == "awaiting_second"  # the matches' own "a1" is most severe
        approved = review.approve(session, get(session, case_id), "bob", TWO_AT_ONCE)
        assert approved.state == "effective"
    with database.session() as session:
        case = get(session, case_id)
        assert (case.status, case.decision) == ("closed", "confirm")


def test_rejecting_exchange_content_needs_a_second_reviewer(database):
    shared = bank_content(database, exchange=True)
    quiet = bank_content(database, exchange=True, feedback=False)
    local = bank_content(database, exchange=False)

    def reject(ref, content_id, policy):
        case_id = make_case(database, ref, hit(content_id=content_id))
        with database.session() as session:
            return review.decide(session, get(session, case_id), "reject", "alice", policy, TAX)

    assert reject("shared", shared, TWO).state == "awaiting_second"
    assert reject("quiet", quiet, TWO).state == "pending"
    assert reject("local", local, TWO).state == "pending"
    assert reject("rule off", shared, UNDO).state == "pending"


def test_a_second_reviewer_may_decline(database):
    case_id = make_case(database, "upload", hit(["csam_egregious"]))
    with database.session() as session:
        review.decide(session, get(session, case_id), "confirm", "alice", TWO, TAX)
    with database.session() as session:
        declined = review.undo(session, get(session, case_id), "bob", TWO)
        assert declined.state == "undone"
        case = get(session, case_id)
        assert (case.status, case.claimed_by) == ("open", "bob")
        with pytest.raises(CaseClosed):
            review.approve(session, case, "carol", TWO)


# Validation and escalation ----------------------------------------------------------


def test_confirmation_needs_a_primary_tag_and_rejection_a_known_reason(database):
    case_id = make_case(database, "upload", hit(["benign", "prepubescent"]))
    with database.session() as session:
        case = get(session, case_id)
        for given in (None, ["benign"]):
            with pytest.raises(InvalidInput) as raised:
                review.decide(session, case, "confirm", "a", UNDO, TAX, classification=given)
            assert raised.value.code == "classification_required"
        with pytest.raises(InvalidInput) as raised:
            review.decide(session, case, "reject", "a", UNDO, TAX, reason="dislike")
        assert raised.value.code == "invalid_reason"
        assert get(session, case_id).status == "open"
        record = review.decide(session, case, "confirm", "a", UNDO, TAX, classification=["CSAM"])
        assert record.classification == ["csam"]


def test_escalation_hands_the_case_on_and_keeps_it_queued(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        review.claim(session, get(session, case_id), "alice", UNDO)
        record = review.decide(session, get(session, case_id), "escalate", "alice", UNDO, TAX)
        assert record.state == "effective"
    with database.session() as session:
        case = get(session, case_id)
        assert (case.status, case.queue, case.assigned_to) == ("escalated", "senior", None)
        assert (case.claimed_by, case.lease_expires_at) == (None, None)
        assert [c.id for c in queue.page(session)[0]] == [case_id]
        review.decide(session, case, "escalate", "bob", UNDO, TAX, escalate_to="legal")
        assert get(session, case_id).queue == "legal"


# Audit ------------------------------------------------------------------------------


def test_review_steps_are_audited_in_order(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        review.claim(session, get(session, case_id), "alice", UNDO)
    with database.session() as session:
        review.decide(session, get(session, case_id), "reject", "alice", UNDO, TAX)
    with database.session() as session:
        review.undo(session, get(session, case_id), "alice", UNDO)
    with database.session() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.subject).order_by(AuditEntry.id)
        ).all()
        assert [tuple(e) for e in entries] == [
            ("case.claim", "alice", f"case:{case_id}"),
            ("case.decide", "alice", f"case:{case_id}"),
            ("case.undo", "alice", f"case:{case_id}"),
        ]
        assert audit.verify(session).ok


def test_renewing_a_lease_is_not_audited_again(database):
    case_id = make_case(database, "upload")
    with database.session() as session:
        review.claim(session, get(session, case_id), "alice", UNDO)
        review.claim(session, get(session, case_id), "alice", UNDO)
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count(audit.CASE_CLAIM) == 1
