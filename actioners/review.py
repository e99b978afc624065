"""Working the review queue: leases, decisions, the undo window and the two-person rule.

A case is worked by one reviewer at a time: claiming it takes a lease that
the console renews while the reviewer is on the page; an expired lease
returns the case to the queue without anyone releasing it. Every state
change is a conditional UPDATE, so two reviewers racing for a case or a
decision end with exactly one winner and a clear error for the other.

A decision does not act at once. It waits out the undo window (and, where
the two-person rule applies, a second reviewer's agreement) as "pending";
`finalise_due` then makes it effective, and only then are the platform's
webhook and the exchanges' feedback queued. Every step is in the audit log.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from actioners import reporting, retention, webhooks
from actioners.cases import absorb_follow_up, get_case
from actioners.feedback import queue_exchange_feedback
from actioners.models import Case, CaseDecision
from actioners.queue import free_for, next_free
from banks.models import BankContent, Exchange
from banks.taxonomy import Taxonomy
from core.errors import CaseClosed, CaseHeld, InvalidInput, NotAllowed
from core.names import OPEN_STATUSES, CaseStatus, DecisionState, Role, Verdict
from database import audit, utcnow

RejectReason = Literal["false_positive", "not_violating", "unusable_media", "duplicate", "other"]
REJECT_REASONS: tuple[str, ...] = get_args(RejectReason)
#: Rejections that tell the exchanges their signal was wrong; the others (the
#: media was unusable, a duplicate) say nothing about the signal itself.
FALSE_POSITIVE_REASONS = frozenset({"false_positive", "not_violating"})
MAX_NOTE = 10_000
MAX_NAME = 200
MAX_QUEUE = 64
#: Cases tried before `take_next` gives up on a queue that others keep emptying.
MAX_TAKE_ATTEMPTS = 20


@dataclass(frozen=True)
class ReviewPolicy:
    """The deployment's review rules (from the settings)."""

    #: Seconds a decision stays pending, and can be undone, before it acts.
    undo_seconds: float = 60.0
    #: Rejections that would tell a shared exchange "false positive", and
    #: confirmations in the most severe categories, need a second reviewer.
    two_person_rule: bool = True
    #: Seconds a claim lasts unless renewed.
    lease_seconds: float = 300.0
    #: Where decisions are announced (empty: no webhook).
    webhook_url: str = ""
    #: Keep the copy of an upload after its rejection takes effect (see
    #: `actioners.retention`).
    keep_rejected_media: bool = False
    #: Tags whose confirmation, once in effect, is reported to every enabled reporter.
    reportable: frozenset[str] = frozenset()


# Who may open which case ---------------------------------------------------------------

DEFAULT_QUEUE = "default"


def visible_queues(
    username: str | None, role: str, member_of: Iterable[str] = ()
) -> frozenset[str] | None:
    """The queues whose cases this reviewer may open (None: every queue, for admins).

    An escalated case is for the queue it was sent to: its members, the
    reviewer it was sent to by name, and admins. Everyone with the reviewer
    role sees the default queue; a token that belongs to nobody sees no other.
    """
    if role == Role.ADMIN:
        return None
    queues = {DEFAULT_QUEUE, *member_of}
    if username:
        queues.add(username)
    return frozenset(queues)


# Leases ------------------------------------------------------------------------------


def _changed(result: Any) -> bool:
    return int(result.rowcount) == 1


def claim(session: Session, case: Case, reviewer: str, policy: ReviewPolicy) -> Case:
    """Take (or renew) the lease on an unresolved case; fails if someone else holds it.

    Taking it is audited; renewing a lease one already holds is not (the
    console renews every minute while the reviewer stays on the case).
    """
    now = utcnow()
    renewing = case.claimed_by == reviewer and (
        case.lease_expires_at is not None and case.lease_expires_at > now
    )
    claimed = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status.in_(OPEN_STATUSES), free_for(reviewer, now))
        .values(claimed_by=reviewer, lease_expires_at=now + timedelta(seconds=policy.lease_seconds))
    )
    session.refresh(case)
    if not _changed(claimed):
        if case.status not in OPEN_STATUSES:
            raise CaseClosed(f"case {case.id} is {case.status}, not in the queue")
        raise CaseHeld(f"case {case.id} is being reviewed by {case.claimed_by}")
    if not renewing:
        audit.record(session, reviewer, audit.CASE_CLAIM, f"case:{case.id}")
    return case


def take_next(
    session: Session, reviewer: str, queues: Collection[str] | None, policy: ReviewPolicy
) -> Case | None:
    """Claim the most urgent case waiting for `reviewer`; None when nothing does.

    A case another reviewer takes between the look and the claim is skipped,
    so a busy queue hands out the next one instead of an error.
    """
    for _attempt in range(MAX_TAKE_ATTEMPTS):
        candidate = next_free(session, reviewer, queues)
        if candidate is None:
            return None
        try:
            with session.begin_nested():
                return claim(session, candidate, reviewer, policy)
        except (CaseHeld, CaseClosed):
            continue
    return None


def release(session: Session, case: Case, reviewer: str, *, admin: bool = False) -> Case:
    """Give a case back to the queue (its holder, or an admin)."""
    holder = case.claimed_by
    if holder is None:
        return case
    if holder != reviewer and not admin:
        raise NotAllowed(f"case {case.id} is held by {holder}; only they or an admin release it")
    session.execute(
        update(Case)
        .where(Case.id == case.id, Case.claimed_by == holder)
        .values(claimed_by=None, lease_expires_at=None)
    )
    session.refresh(case)
    audit.record(session, reviewer, audit.CASE_RELEASE, f"case:{case.id}", {"held_by": holder})
    return case


def reassign(session: Session, case: Case, to: str, by: str, policy: ReviewPolicy) -> Case:
    """An admin hands a case to a named reviewer, with a fresh lease.

    `to` names the reviewer as decisions do ("user:alice", "token:bot"); a
    bare name means a console user.
    """
    to = _name(to, "reviewer")
    if ":" not in to:
        to = f"user:{to}"
    if case.status not in OPEN_STATUSES:
        raise CaseClosed(f"case {case.id} is {case.status}, not in the queue")
    previous = case.claimed_by
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(
            claimed_by=to,
            assigned_to=to,
            lease_expires_at=utcnow() + timedelta(seconds=policy.lease_seconds),
        )
    )
    session.refresh(case)
    audit.record(session, by, audit.CASE_REASSIGN, f"case:{case.id}", {"from": previous, "to": to})
    return case


def _name(value: Any, what: str, longest: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > longest:
        raise InvalidInput(f"{what} must be a name of 1 to {longest} characters")
    return value.strip()


# Decisions ---------------------------------------------------------------------------


def decide(
    session: Session,
    case: Case,
    decision: str,
    reviewer: str,
    policy: ReviewPolicy,
    taxonomy: Taxonomy,
    *,
    note: str = "",
    classification: list[str] | None = None,
    reason: str | None = None,
    escalate_to: str | None = None,
) -> CaseDecision:
    """Record a decision. Escalation hands the case on at once; confirm and reject
    wait out the undo window (and a second reviewer, where the rule applies)."""
    if decision not in tuple(Verdict):
        raise InvalidInput(f"decision must be one of {', '.join(Verdict)}", code="invalid_decision")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(
            f"note must be text of at most {MAX_NOTE} characters", code="invalid_note"
        )
    now = utcnow()
    record = CaseDecision(case_id=case.id, decision=decision, note=note, decided_by=reviewer)
    if decision == Verdict.ESCALATE:
        target = _name(escalate_to or "senior", "escalate_to", MAX_QUEUE).removeprefix("user:")
        changes: dict[str, Any] = {"status": CaseStatus.ESCALATED, "claimed_by": None}
        changes["lease_expires_at"] = None
        changes["queue"], changes["assigned_to"] = target, None
        record.state, record.effective_at, record.reason = DecisionState.EFFECTIVE, now, target
    else:
        if decision == Verdict.CONFIRM:
            record.classification = _classification(case, classification, taxonomy)
        else:
            record.reason = _reject_reason(reason)
        second = policy.two_person_rule and needs_second_reviewer(
            session, case, decision, record.classification, record.reason, taxonomy
        )
        record.state = DecisionState.AWAITING_SECOND if second else DecisionState.PENDING
        record.effective_at = None if second else now + timedelta(seconds=policy.undo_seconds)
        changes = {"status": CaseStatus.PENDING}
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status.in_(OPEN_STATUSES), free_for(reviewer, now))
        .values(updated_at=now, **changes)
    )
    if not _changed(result):
        session.refresh(case)
        if case.status in OPEN_STATUSES:
            raise CaseHeld(f"case {case.id} is being reviewed by {case.claimed_by}")
        raise CaseClosed(f"case {case.id} is {case.status}: it was already decided")
    session.add(record)
    session.flush()
    audit.record(
        session,
        reviewer,
        audit.CASE_ESCALATE if decision == Verdict.ESCALATE else audit.CASE_DECIDE,
        f"case:{case.id}",
        {
            "decision": decision,
            "state": record.state,
            "classification": record.classification,
            "reason": record.reason,
        },
    )
    if record.state == DecisionState.PENDING and policy.undo_seconds <= 0:
        _take_effect(session, case, record, policy)
    session.refresh(case)
    return record


def _classification(case: Case, given: list[str] | None, taxonomy: Taxonomy) -> list[str]:
    """The confirmation's taxonomy tags: as given, or else the matches' primary tags."""
    if given is not None and (
        not isinstance(given, list) or not all(isinstance(t, str) and t.strip() for t in given)
    ):
        raise InvalidInput("classification must be a list of taxonomy tags")
    matched = [t for m in case.matches for t in m.tags]
    tags = taxonomy.normalize_all(given if given is not None else matched)
    if not any(taxonomy.is_primary(t) for t in tags):
        raise InvalidInput(
            "a confirmation needs a classification with at least one primary taxonomy tag",
            code="classification_required",
        )
    return tags


def _reject_reason(reason: Any) -> str:
    reason = reason or "false_positive"
    if reason not in REJECT_REASONS:
        raise InvalidInput(
            f"reason must be one of {', '.join(REJECT_REASONS)}", code="invalid_reason"
        )
    return str(reason)


def needs_second_reviewer(
    session: Session,
    case: Case,
    decision: str,
    classification: list[str],
    reason: str | None,
    taxonomy: Taxonomy,
) -> bool:
    """The two-person rule: a rejection that would send false-positive feedback to a
    shared exchange, or a confirmation in the most severe categories (by the
    reviewer's classification or by the matched signals' own tags, so that a
    milder classification cannot step around the rule)."""
    if decision == Verdict.CONFIRM:
        matched = taxonomy.normalize_all(t for m in case.matches for t in m.tags)
        return any(t in taxonomy.highest_severity for t in [*classification, *matched])
    if reason not in FALSE_POSITIVE_REASONS:
        return False
    content_ids = {m.content_id for m in case.matches}
    if not content_ids:
        return False
    shared = session.scalar(
        select(BankContent.id)
        .join(Exchange, BankContent.exchange_id == Exchange.id)
        .where(BankContent.id.in_(content_ids), Exchange.feedback_enabled)
        .limit(1)
    )
    return shared is not None


def latest_decision(case: Case) -> CaseDecision | None:
    return case.decisions[-1] if case.decisions else None


def approve(session: Session, case: Case, reviewer: str, policy: ReviewPolicy) -> CaseDecision:
    """A second reviewer agrees with a decision awaiting them; the undo window starts."""
    record = latest_decision(case)
    waiting = DecisionState.AWAITING_SECOND
    if case.status != CaseStatus.PENDING or record is None or record.state != waiting:
        raise CaseClosed(f"case {case.id} has no decision awaiting a second reviewer")
    if record.decided_by == reviewer:
        raise NotAllowed("the second reviewer must be someone other than the first")
    now = utcnow()
    result = session.execute(
        update(CaseDecision)
        .where(CaseDecision.id == record.id, CaseDecision.state == waiting)
        .values(
            state=DecisionState.PENDING,
            approved_by=reviewer,
            approved_at=now,
            effective_at=now + timedelta(seconds=policy.undo_seconds),
        )
    )
    if not _changed(result):
        raise CaseClosed(f"case {case.id}'s decision was already approved or undone")
    session.refresh(record)
    audit.record(
        session, reviewer, audit.CASE_APPROVE, f"case:{case.id}", {"decision_id": record.id}
    )
    if policy.undo_seconds <= 0:
        _take_effect(session, case, record, policy)
    session.refresh(case)
    return record


def undo(
    session: Session, case: Case, reviewer: str, policy: ReviewPolicy, *, admin: bool = False
) -> CaseDecision:
    """Take back a decision that has not taken effect; the case returns to its reviewer.

    Its author (or an admin) may undo it while it waits; a second reviewer
    declining it is the same step.
    """
    record = latest_decision(case)
    undoable = (DecisionState.PENDING, DecisionState.AWAITING_SECOND)
    if case.status != CaseStatus.PENDING or record is None or record.state not in undoable:
        raise CaseClosed(f"case {case.id} has no decision that can still be undone")
    allowed = (
        admin or reviewer == record.decided_by or record.state == DecisionState.AWAITING_SECOND
    )
    if not allowed:
        raise NotAllowed("only the reviewer who decided (or an admin) can undo the decision")
    now = utcnow()
    result = session.execute(
        update(CaseDecision)
        .where(
            CaseDecision.id == record.id,
            CaseDecision.state.in_(undoable),
            or_(CaseDecision.effective_at.is_(None), CaseDecision.effective_at > now),
        )
        .values(state=DecisionState.UNDONE)
    )
    if not _changed(result):
        raise CaseClosed(f"case {case.id}'s undo window has closed: the decision took effect")
    absorb_follow_up(session, case)
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(
            status=CaseStatus.ESCALATED if case.queue != DEFAULT_QUEUE else CaseStatus.OPEN,
            claimed_by=reviewer,
            lease_expires_at=now + timedelta(seconds=policy.lease_seconds),
            updated_at=now,
        )
    )
    audit.record(session, reviewer, audit.CASE_UNDO, f"case:{case.id}", {"decision_id": record.id})
    session.refresh(record)
    session.refresh(case)
    return record


def finalise_due(session: Session, policy: ReviewPolicy, now: datetime | None = None) -> int:
    """Make every pending decision whose undo window has passed effective; how many."""
    now = now or utcnow()
    due = session.scalars(
        select(CaseDecision)
        .where(CaseDecision.state == DecisionState.PENDING, CaseDecision.effective_at <= now)
        .order_by(CaseDecision.id)
    ).all()
    done = 0
    for record in due:
        claimed = session.execute(
            update(CaseDecision)
            .where(and_(CaseDecision.id == record.id, CaseDecision.state == DecisionState.PENDING))
            .values(state=DecisionState.EFFECTIVE)
        )
        if _changed(claimed):
            _take_effect(session, get_case(session, record.case_id), record, policy)
            done += 1
    return done


def _take_effect(session: Session, case: Case, record: CaseDecision, policy: ReviewPolicy) -> None:
    """The decision acts: the case closes, and only now are webhook and feedback queued."""
    now = utcnow()
    record.state = DecisionState.EFFECTIVE
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(
            status=CaseStatus.CLOSED,
            decision=record.decision,
            closed_at=now,
            claimed_by=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    session.flush()
    session.refresh(case)
    audit.record(
        session,
        "hma",
        audit.CASE_EFFECTIVE,
        f"case:{case.id}",
        {"decision_id": record.id, "decision": record.decision},
    )
    if record.decision == Verdict.CONFIRM or record.reason in FALSE_POSITIVE_REASONS:
        queue_exchange_feedback(session, case, record.decision, 0)
    if record.decision == Verdict.REJECT:
        # Not abuse after all: the upload kept to be reported has no reason to stay,
        # nor (unless the deployment keeps it) the reviewers' copy.
        retention.delete_original(session, case.id)
        if not policy.keep_rejected_media:
            retention.delete_case_media(session, case.id)
    if policy.webhook_url:
        webhooks.queue_webhook(session, case, record, policy.webhook_url)
    reporting.queue_reports(session, case, record, policy.reportable)
