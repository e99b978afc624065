"""Review cases: the reviewer routes."""

from __future__ import annotations

from typing import Any

from flask import request

from actioners import cases
from actioners.models import Case
from hma.web.api import api
from hma.web.auth import actor, require
from hma.web.context import db_session, services
from hma.web.inputs import int_arg, json_object


def case_summary_json(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "content_ref": case.content_ref,
        "status": case.status,
        "decision": case.decision,
        "priority": case.priority,
        "match_count": len(case.matches),
        "banks": sorted({m.bank_name for m in case.matches}),
        "best_distance": min((m.distance for m in case.matches), default=None),
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def case_json(case: Case) -> dict[str, Any]:
    return case_summary_json(case) | {
        "metadata": dict(case.details),
        "matches": [
            {
                "bank": m.bank_name,
                "content_id": m.content_id,
                "signal_type": m.signal_type,
                "signal": m.signal,
                "query_signal": m.query_signal,
                "distance": m.distance,
                "tags": list(m.tags),
                "variant": m.variant,
                **(m.detail or {}),
                "matched_at": m.created_at.isoformat(),
            }
            for m in case.matches
        ],
        "decisions": [
            {
                "decision": d.decision,
                "note": d.note,
                "decided_by": d.decided_by,
                "decided_at": d.created_at.isoformat(),
            }
            for d in case.decisions
        ],
    }


@api.get("/cases")
@require("reviewer")
def list_cases() -> dict[str, Any]:
    page, total = cases.list_cases(
        db_session(),
        status=request.args.get("status", "unresolved"),
        limit=int_arg("limit", 50),
        offset=int_arg("offset", 0),
    )
    return {"cases": [case_summary_json(c) for c in page], "total": total}


@api.get("/cases/<int:case_id>")
@require("reviewer")
def get_case(case_id: int) -> dict[str, Any]:
    return case_json(cases.get_case(db_session(), case_id))


@api.post("/cases/<int:case_id>/decision")
@require("reviewer")
def decide_case(case_id: int) -> dict[str, Any]:
    body = json_object()
    session = db_session()
    case = cases.get_case(session, case_id)
    cases.decide(
        session,
        case,
        decision=body.get("decision"),  # type: ignore[arg-type]
        note=body.get("note") or "",
        decided_by=actor(),
        feedback_delay=services().settings.undo_seconds,
    )
    session.commit()
    return case_json(cases.get_case(session, case_id))
