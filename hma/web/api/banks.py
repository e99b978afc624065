"""Banks and their content: the curator routes."""

from __future__ import annotations

import copy
from typing import Any

from flask import request
from sqlalchemy import inspect as sa_inspect

from actioners import audit
from banks import store, validation
from banks.models import Bank, BankContent
from hma.web.api import api
from hma.web.auth import actor, require
from hma.web.context import db_session, services
from hma.web.errors import ApiError
from hma.web.inputs import (
    int_arg,
    json_object,
    optional_bool,
    optional_text,
    signal_list,
    uploaded_bytes,
)


def record(action: str, subject: str, details: dict[str, Any] | None = None) -> None:
    """Audit a change by this request's token, in the transaction the view commits."""
    audit.record(db_session(), actor(), action, subject, details)


def snapshot(obj: Any) -> dict[str, Any]:
    """A row's column values (but its id and timestamps), to compare with `changed` later."""
    columns = sa_inspect(obj).mapper.column_attrs
    skip = {"id", "created_at", "updated_at"}
    return {c.key: copy.copy(getattr(obj, c.key)) for c in columns if c.key not in skip}


def changed(obj: Any, before: dict[str, Any]) -> list[str]:
    """The names (never the values) of the attributes in `before` that `obj` no longer has."""
    return [attr for attr, value in before.items() if getattr(obj, attr) != value]


def bank_json(bank: Bank, content_count: int) -> dict[str, Any]:
    return {
        "name": bank.name,
        "description": bank.description,
        "enabled": bank.enabled,
        "pdq_threshold": bank.pdq_threshold,
        "published": bank.published,
        "reshare": bank.reshare,
        "trust": bank.trust,
        "content_count": content_count,
        "created_at": bank.created_at.isoformat(),
        "updated_at": bank.updated_at.isoformat(),
    }


def content_json(bank: Bank, content: BankContent) -> dict[str, Any]:
    return {
        "id": content.id,
        "bank": bank.name,
        "enabled": content.enabled,
        "tags": list(content.tags),
        "metadata": dict(content.details),
        "source": content.source,
        "signals": [
            {"type": s.signal_type, "value": s.value}
            | ({"quality": s.quality} if s.quality is not None else {})
            for s in content.signals
        ],
        "created_at": content.created_at.isoformat(),
        "updated_at": content.updated_at.isoformat(),
    }


@api.get("/banks")
@require("curator")
def list_banks() -> dict[str, Any]:
    summaries = store.list_banks(db_session())
    return {"banks": [bank_json(s.bank, s.content_count) for s in summaries]}


@api.post("/banks")
@require("curator")
def create_bank() -> tuple[dict[str, Any], int]:
    body = json_object()
    session = db_session()
    bank = store.create_bank(
        session,
        body.get("name"),  # type: ignore[arg-type]
        description=optional_text(body, "description") or "",
        enabled=optional_bool(body, "enabled") is not False,
    )
    record(audit.BANK_CREATE, f"bank:{bank.name}")
    session.commit()
    return bank_json(bank, 0), 201


@api.get("/banks/<name>")
@require("curator")
def get_bank(name: str) -> dict[str, Any]:
    session = db_session()
    bank = store.get_bank(session, name)
    return bank_json(bank, store.count_content(session, bank))


@api.patch("/banks/<name>")
@require("curator")
def update_bank(name: str) -> dict[str, Any]:
    body = json_object()
    session = db_session()
    bank = store.get_bank(session, name)
    before = snapshot(bank)
    store.update_bank(
        session,
        bank,
        name=optional_text(body, "name"),
        description=optional_text(body, "description"),
        enabled=optional_bool(body, "enabled"),
        pdq_threshold=body.get("pdq_threshold", store.UNCHANGED),
        published=optional_bool(body, "published"),
        trust=body.get("trust"),
        reshare=optional_bool(body, "reshare"),
        taxonomy=services().taxonomy,
    )
    renamed = {"renamed_from": name} if bank.name != name else {}
    record(audit.BANK_CHANGE, f"bank:{bank.name}", {"changed": changed(bank, before)} | renamed)
    session.commit()
    return bank_json(bank, store.count_content(session, bank))


@api.delete("/banks/<name>")
@require("curator")
def delete_bank(name: str) -> tuple[str, int]:
    session = db_session()
    store.delete_bank(session, store.get_bank(session, name))
    record(audit.BANK_DELETE, f"bank:{name}")
    session.commit()
    return "", 204


@api.get("/banks/<name>/content")
@require("curator")
def list_content(name: str) -> dict[str, Any]:
    session = db_session()
    bank = store.get_bank(session, name)
    limit = int_arg("limit", 100)
    page = store.list_content(session, bank, after=int_arg("after", 0), limit=limit)
    return {
        "content": [content_json(bank, c) for c in page],
        "next_after": page[-1].id if len(page) == limit else None,
    }


@api.post("/banks/<name>/content")
@require("curator")
def add_content(name: str) -> tuple[dict[str, Any], int]:
    session = db_session()
    bank = store.get_bank(session, name)
    skipped: list[dict[str, Any]] = []
    if request.mimetype == "multipart/form-data":
        hashed = services().scanner.hash(uploaded_bytes())
        signals = [s for s in hashed if s.usable]
        skipped = [
            s.to_dict() | {"reason": "quality under the configured minimum"}
            for s in hashed
            if not s.usable
        ]
        tags = validation.split_tags(request.form.get("tags"), ",")
        metadata = validation.metadata_text(request.form.get("metadata"))
    else:
        body = json_object()
        signals = signal_list(body.get("signals"))
        tags = validation.tags(body.get("tags"))
        metadata = validation.metadata(body.get("metadata"))
    if not signals:
        raise ApiError(400, "no_signals", "the content produced no usable signal")
    content = store.add_content(
        session, bank, signals, tags=tags, metadata=metadata, taxonomy=services().taxonomy
    )
    record(audit.BANK_CHANGE, f"bank:{name}", {"content_added": content.id})
    session.commit()
    return content_json(bank, content) | {"skipped_signals": skipped}, 201


@api.get("/banks/<name>/content/<id:content_id>")
@require("curator")
def get_content(name: str, content_id: int) -> dict[str, Any]:
    session = db_session()
    bank = store.get_bank(session, name)
    return content_json(bank, store.get_content(session, bank, content_id))


@api.patch("/banks/<name>/content/<id:content_id>")
@require("curator")
def update_content(name: str, content_id: int) -> dict[str, Any]:
    body = json_object()
    session = db_session()
    bank = store.get_bank(session, name)
    content = store.get_content(session, bank, content_id)
    before = snapshot(content)
    store.update_content(
        session,
        content,
        enabled=optional_bool(body, "enabled"),
        tags=body.get("tags"),
        metadata=body.get("metadata"),
        taxonomy=services().taxonomy,
    )
    # The API's names for the fields; "enabled" alone would not say which way it went.
    names = {"enabled": "enabled" if content.enabled else "disabled", "details": "metadata"}
    change = ",".join(names.get(f, f) for f in changed(content, before))
    record(audit.BANK_CHANGE, f"bank:{name}", {"content_id": content_id, "change": change})
    session.commit()
    return content_json(bank, content)


@api.delete("/banks/<name>/content/<id:content_id>")
@require("curator")
def delete_content(name: str, content_id: int) -> tuple[str, int]:
    session = db_session()
    bank = store.get_bank(session, name)
    store.remove_content(session, store.get_content(session, bank, content_id))
    record(audit.BANK_CHANGE, f"bank:{name}", {"content_id": content_id, "change": "removed"})
    session.commit()
    return "", 204


@api.post("/banks/<name>/content/<id:content_id>/remove-on-appeal")
@require("curator")
def remove_content_on_appeal(name: str, content_id: int) -> dict[str, Any]:
    """An appeal found the content is not abuse: remove it for good, say why, and
    tell its exchange (when it takes feedback)."""
    reason = json_object().get("reason")
    session = db_session()
    bank = store.get_bank(session, name)
    content = store.get_content(session, bank, content_id)
    told = store.remove_on_appeal(session, content, reason, actor())  # type: ignore[arg-type]
    details = {"content_id": content_id, "change": "removed on appeal", "reason": reason}
    record(audit.BANK_CHANGE, f"bank:{name}", details | {"exchange_told": told})
    session.commit()
    return {"removed": content_id, "exchange_told": told}
