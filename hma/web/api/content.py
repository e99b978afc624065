"""Hashing, matching and scanning uploads: the ingest routes."""

from __future__ import annotations

from typing import Any

from hma.web.api import api
from hma.web.auth import require
from hma.web.context import db_session, read_session, services
from hma.web.inputs import content_input


@api.post("/hash")
@require("ingest")
def hash_content() -> dict[str, Any]:
    found = content_input(allow_signals=False)
    return {"signals": [s.to_dict() for s in found.signals]}


@api.post("/match")
@require("ingest")
def match_content() -> dict[str, Any]:
    found = content_input(allow_signals=True)
    result = services().scanner.match(read_session(), found.signals)
    return result.to_dict(with_case=False)


@api.post("/scan")
@require("ingest")
def scan_content() -> dict[str, Any]:
    found = content_input(allow_signals=True)
    session = db_session()
    result = services().scanner.scan(
        session,
        found.signals,
        content_ref=found.fields.get("content_ref"),  # type: ignore[arg-type]
        metadata=found.fields.get("metadata"),
        media=found.data,
    )
    session.commit()
    return result.to_dict(with_case=True)
