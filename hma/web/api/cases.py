"""Review cases: the reviewer routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Response

from accounts.users import find_user
from actioners import cases, exposure, queue, review, webhooks
from actioners.media import DEFAULT_BLUR, preview
from actioners.models import Case
from core.errors import CaseNotFound
from core.names import CaseStatus, Role, Verdict
from hashers.keywords import spans
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import acting_username, actor, case_queues, is_admin
from hma.web.context import db_session, services
from hma.web.typed import View, endpoint


def case_summary_json(case: Case) -> schemas.CaseSummary:
    return {
        "id": case.id,
        "content_ref": case.content_ref,
        "status": CaseStatus(case.status),
        "decision": Verdict(case.decision) if case.decision else None,
        "priority": cases.explain(case)[0],
        "queue": case.queue,
        "assigned_to": case.assigned_to,
        "claimed_by": case.claimed_by,
        "lease_expires_at": case.lease_expires_at.isoformat() if case.lease_expires_at else None,
        "match_count": len(case.matches),
        "banks": sorted({m.bank_name for m in case.matches}),
        "best_distance": min((m.distance for m in case.matches), default=None),
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def case_json(case: Case) -> schemas.CaseDetail:
    sources = cases.match_sources(db_session(), case)
    detail = case_summary_json(case) | {
        "priority_reasons": cases.explain(case)[1],
        "has_media": case.media is not None,
        "has_text": case.text is not None,
        "metadata": dict(case.details),
        "matches": [
            {
                "bank": m.bank_name,
                "content_id": m.content_id,
                "signal_type": m.signal_type,
                "signal": m.signal,
                "query_signal": m.query_signal,
                "distance": m.distance,
                "quality": m.quality,
                "tags": list(m.tags),
                "variant": m.variant,
                **sources.get(m.content_id, {}),
                **(m.detail or {}),
                "matched_at": m.created_at.isoformat(),
            }
            for m in case.matches
        ],
        "decisions": [
            {
                "id": d.id,
                "decision": d.decision,
                "state": d.state,
                "classification": list(d.classification),
                "reason": d.reason,
                "note": d.note,
                "decided_by": d.decided_by,
                "decided_at": d.created_at.isoformat(),
                "effective_at": d.effective_at.isoformat() if d.effective_at else None,
                "approved_by": d.approved_by,
            }
            for d in case.decisions
        ],
        "webhook_deliveries": [
            {
                "id": w.id,
                "status": w.status,
                "attempts": w.attempts,
                "last_status_code": w.last_status_code,
                "last_error": w.last_error,
                "delivered_at": w.delivered_at.isoformat() if w.delivered_at else None,
            }
            for w in webhooks.deliveries_for(db_session(), case.id)
        ],
    }
    return cast(schemas.CaseDetail, detail)


_STEP_ERRORS = {
    403: "Not a personal token, or the review rules forbid this person this step",
    404: "No such case in a queue the caller may open",
    409: "Held by someone else, or not in a state that allows the step",
}


@api.get("/cases")
@endpoint(
    "Cases, most urgent first",
    role=Role.REVIEWER,
    query=schemas.CaseQuery,
    responses={200: schemas.CaseList},
)
def list_cases(query: schemas.CaseQuery) -> schemas.CaseList:
    page, total = queue.page(
        db_session(),
        status=query.status,
        limit=query.limit,
        offset=query.offset,
        queue=query.queue or None,
        queues=case_queues(),
    )
    return {"cases": [case_summary_json(c) for c in page], "total": total}


@api.get("/cases/<id:case_id>")
@endpoint(
    "A case: its matches, decisions and deliveries",
    role=Role.REVIEWER,
    responses={200: schemas.CaseDetail},
    errors={404: "No such case in a queue the caller may open"},
)
def get_case(case_id: int) -> schemas.CaseDetail:
    return case_json(cases.get_case(db_session(), case_id, case_queues()))


def _done(case_id: int) -> schemas.CaseDetail:
    """Commit the step, then answer with the case as it now stands."""
    session = db_session()
    session.commit()
    return case_json(cases.get_case(session, case_id))


@api.post("/cases/<id:case_id>/decision")
@endpoint(
    "Decide: confirm, reject or escalate",
    role=Role.REVIEWER,
    person=True,
    body=schemas.DecisionIn,
    responses={200: schemas.CaseDetail},
    errors=_STEP_ERRORS,
)
def decide_case(case_id: int, body: schemas.DecisionIn) -> schemas.CaseDetail:
    session = db_session()
    found = services()
    review.decide(
        session,
        cases.get_case(session, case_id, case_queues()),
        decision=body.decision,
        reviewer=actor(),
        policy=found.review,
        taxonomy=found.taxonomy,
        note=body.note or "",
        classification=body.classification,
        reason=body.reason,
        escalate_to=body.escalate_to,
    )
    return _done(case_id)


@api.post("/cases/next")
@endpoint(
    "Claim the most urgent case waiting for the caller",
    role=Role.REVIEWER,
    person=True,
    responses={200: schemas.CaseDetail, 204: None},
    errors={403: "Not a personal token"},
)
def take_next_case() -> Any:
    """Claim the most urgent case waiting for the caller, as the console's "next" does;
    204 when none waits."""
    session = db_session()
    case = review.take_next(session, actor(), case_queues(), services().review)
    if case is None:
        return Response(status=204)
    return _done(case.id)


def _step(summary: str, role: str = Role.REVIEWER, **declared: Any) -> Callable[[View], View]:
    """The declaration shared by the workflow steps on one case."""
    return endpoint(
        summary,
        role=role,
        person=True,
        responses={200: schemas.CaseDetail},
        errors=_STEP_ERRORS,
        **declared,
    )


@api.post("/cases/<id:case_id>/claim")
@_step("Claim the case, or renew the lease on it")
def claim_case(case_id: int) -> schemas.CaseDetail:
    session = db_session()
    policy = services().review
    review.claim(session, cases.get_case(session, case_id, case_queues()), actor(), policy)
    return _done(case_id)


@api.post("/cases/<id:case_id>/release")
@_step("Give the case back to the queue")
def release_case(case_id: int) -> schemas.CaseDetail:
    session = db_session()
    review.release(
        session, cases.get_case(session, case_id, case_queues()), actor(), admin=is_admin()
    )
    return _done(case_id)


@api.post("/cases/<id:case_id>/reassign")
@_step("Hand the case to a named reviewer", role=Role.ADMIN, body=schemas.Reassignment)
def reassign_case(case_id: int, body: schemas.Reassignment) -> schemas.CaseDetail:
    session = db_session()
    policy = services().review
    case = cases.get_case(session, case_id, case_queues())
    review.reassign(session, case, body.to, actor(), policy)
    return _done(case_id)


@api.post("/cases/<id:case_id>/approve")
@_step("Agree, as the second reviewer, with a decision awaiting one")
def approve_case(case_id: int) -> schemas.CaseDetail:
    session = db_session()
    policy = services().review
    review.approve(session, cases.get_case(session, case_id, case_queues()), actor(), policy)
    return _done(case_id)


@api.post("/cases/<id:case_id>/undo")
@_step("Take back a decision that has not taken effect (undo window)")
def undo_decision(case_id: int) -> schemas.CaseDetail:
    session = db_session()
    policy = services().review
    review.undo(
        session, cases.get_case(session, case_id, case_queues()), actor(), policy, admin=is_admin()
    )
    return _done(case_id)


def _media_of(case_id: int) -> Any:
    case = cases.get_case(db_session(), case_id, case_queues())
    if case.media is None:
        raise CaseNotFound(f"case {case_id} has no media to show", code="no_media")
    return case.media


@api.get("/cases/<id:case_id>/preview")
@endpoint(
    "The reviewer-safe image: downscaled, blurred and greyscale",
    role=Role.REVIEWER,
    responses={200: "image/jpeg"},
    errors={
        404: "No such case in a queue the caller may open, or it kept no media",
        429: "The person's exposure limit for this hour is reached",
    },
)
def case_preview(case_id: int) -> Response:
    """Blurred, downscaled and greyscale, always: the safe view for a first look.

    Through a personal token it counts against that person's exposure limit,
    as in the console.
    """
    media = _media_of(case_id)
    if acting_username() is not None:
        _look(case_id, revealed=False)
    image = preview(media, DEFAULT_BLUR, greyscale=True)
    return Response(image, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@api.post("/cases/<id:case_id>/reveal")
@endpoint(
    "The kept copy itself, unblurred; recorded in the audit log",
    role=Role.REVIEWER,
    person=True,
    responses={200: "image/*"},
    errors={
        403: "Not a personal token",
        404: "No such case in a queue the caller may open, or it kept no media",
        429: "The person's exposure limit for this hour is reached",
    },
)
def reveal_case(case_id: int) -> Response:
    """The kept copy itself; a person's deliberate step, within their exposure
    limit, recorded in the audit log first."""
    media = _media_of(case_id)
    _look(case_id, revealed=True)
    return Response(media.data, mimetype=media.content_type, headers={"Cache-Control": "no-store"})


@api.post("/cases/<id:case_id>/reveal-text")
@endpoint(
    "The post's text, with the matched keywords' places; recorded in the audit log",
    role=Role.REVIEWER,
    person=True,
    responses={200: schemas.RevealedText},
    errors={
        403: "Not a personal token",
        404: "No such case in a queue the caller may open, or it kept no text",
        429: "The person's exposure limit for this hour is reached",
    },
)
def reveal_case_text(case_id: int) -> schemas.RevealedText:
    """A post's text is read as media is seen: by a person, within their exposure
    limit, recorded in the audit log first."""
    case = cases.get_case(db_session(), case_id, case_queues())
    if case.text is None:
        raise CaseNotFound(f"case {case_id} kept no text", code="no_text")
    marks: list[schemas.TextMark] = [
        {"start": start, "end": end, "keyword": keyword}
        for start, end, keyword in spans(case.text.text, cases.matched_keywords(case))
    ]
    text = case.text.text
    _look(case_id, revealed=True)
    return {"text": text, "marks": marks}


def _look(case_id: int, revealed: bool) -> None:
    """Count a look at the case's media against the person's limit, or refuse it (429)."""
    session = db_session()
    user = find_user(session, acting_username())
    deployment_limit = services().settings.review_exposure_limit
    limit = exposure.limit_for(deployment_limit, user.wellness if user else {})
    exposure.look(session, actor(), case_id, limit=limit, revealed=revealed)
    session.commit()
