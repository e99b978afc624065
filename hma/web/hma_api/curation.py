"""`/c`: banks, their content, and signal and content types, as HMA's curator routes.

Every change goes through `banks.curation`, so it is audited under the
token's holder exactly as the same change through /api/v1 would be.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Response, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from banks import curation, exchange_admin, store
from banks.hma_vocabulary import (
    BANK_NAME_MESSAGE,
    CONTENT_TYPES,
    SIGNAL_TYPES,
    SignalInvalid,
    disable_until_ts,
    hma_signals,
    normalize_signal,
    parse_disable_until,
    parse_metadata,
    parse_note,
    shown_metadata,
    user_metadata,
    valid_bank_name,
)
from banks.models import Bank, BankContent
from core.errors import BankExists, BankNotFound, ContentNotFound, InvalidInput
from hashers import Signal
from hma.web.auth import actor
from hma.web.context import account_keys, db_session, read_session, services
from hma.web.hma_api import answer, fail, hma_api, json_body, message, state, validated
from hma.web.hma_api.hashing import Hashed, hash_upload, hash_url
from hma.web.hma_api.matching import index_statuses

SIGNAL_RATIO = "signal_type:"


def bank_json(bank: Bank) -> dict[str, Any]:
    return {"matching_enabled_ratio": bank.matching_ratio, "name": bank.name}


# Banks ---------------------------------------------------------------------------------


class CreateBank(BaseModel):
    name: str
    enabled_ratio: float | None = 1.0
    enabled: bool | None = None


class UpdateBank(BaseModel):
    name: str | None = None
    enabled: bool | None = None
    enabled_ratio: float | None = None


@hma_api.get("/c/banks")
def list_banks() -> Response:
    """Every bank, those of exchanges included."""
    return answer([bank_json(bank) for bank in store.all_banks(read_session())])


@hma_api.post("/c/banks")
def create_bank() -> Response:
    """Create a bank; `enabled` counts only when `enabled_ratio` is explicitly null."""
    body = validated(CreateBank, request.get_json(silent=True))
    if not valid_bank_name(body.name):
        fail(400, BANK_NAME_MESSAGE)
    ratio = body.enabled_ratio
    if ratio is None:
        ratio = 1.0 if body.enabled else 0.0
    session = db_session()
    try:
        bank = curation.create_bank(session, actor(), body.name, matching_ratio=ratio)
    except BankExists:
        fail(403, "Bank already exists")
    session.commit()
    return answer(bank_json(bank), 201)


@hma_api.get("/c/bank/<bank_name>")
def get_bank(bank_name: str) -> Response:
    return answer(bank_json(_bank(read_session(), bank_name)))


@hma_api.put("/c/bank/<bank_name>")
def update_bank(bank_name: str) -> Response:
    """Rename, enable or disable (ratio 1 or 0), or set the matching ratio."""
    body = validated(UpdateBank, request.get_json(silent=True))
    session = db_session()
    bank = store.find_bank(session, bank_name)
    if bank is None:
        fail(404, "Bank not found")
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != bank.name:
        if not valid_bank_name(body.name):
            fail(400, BANK_NAME_MESSAGE)
        if store.find_bank(session, body.name) is not None:
            fail(403, "Bank name already exists")
        changes["name"] = body.name
    if body.enabled is not None:
        changes["matching_ratio"] = 1.0 if body.enabled else 0.0
    if body.enabled_ratio is not None:
        changes["matching_ratio"] = body.enabled_ratio
    if changes:
        curation.change_bank(session, actor(), bank, services().taxonomy, **changes)
        session.commit()
    return answer(bank_json(bank))


@hma_api.delete("/c/bank/<bank_name>")
def delete_bank(bank_name: str) -> Response:
    """Delete a bank and its content (and its exchange); done also when there was none."""
    delete_bank_named(bank_name)
    return message(200, "Done")


def delete_bank_named(name: str) -> None:
    """Delete the bank called `name`, if there is one (audited)."""
    session = db_session()
    bank = store.find_bank(session, name)
    if bank is not None:
        curation.delete_bank(session, actor(), bank)
        session.commit()


# Content --------------------------------------------------------------------------------


@hma_api.post("/c/bank/<bank_name>/content")
def add_content(bank_name: str) -> Response:
    """Add media by URL or upload, with optional `metadata` and `note`."""
    session = db_session()
    bank = _bank(session, bank_name)
    metadata, note = _content_fields()
    args = request.args
    hashed: Hashed
    if args.get("url"):
        hashed = hash_url(args["url"], args.get("content_type"), args.get("types"))
    elif request.files:
        hashed = hash_upload(args.get("types"))
    else:
        fail(400, "Neither `url` nor multipart file upload was received")
    if not hashed.signals:
        fail(400, "No signals given")
    signals = [_stored_signal(hma_type, value) for hma_type, value in hashed.signals.items()]
    content = _add(session, bank, signals, metadata, note)
    return answer({"id": content.id, "signals": hma_signals(content)})


@hma_api.post("/c/bank/<bank_name>/signal")
def add_signals(bank_name: str) -> Response:
    """Add content from hashes: one item holding every signal type given."""
    session = db_session()
    bank = _bank(session, bank_name)
    body = json_body()
    if not isinstance(body, dict):
        fail(400, "this endpoint expects a json object payload")
    note = _note(body.get("note"))
    given = {key: value for key, value in body.items() if key != "note"}
    if not given:
        fail(400, "No signals given")
    for hma_type in given:
        if hma_type not in SIGNAL_TYPES:
            fail(400, f"No such signal type {hma_type}")
    signals = [_stored_signal(hma_type, value) for hma_type, value in given.items()]
    content = _add(session, bank, signals, None, note)
    return answer({"id": content.id, "signals": hma_signals(content)})


@hma_api.get("/c/bank/<bank_name>/content/<int:content_id>")
def get_content(bank_name: str, content_id: int) -> Response:
    """One item; `include_signals=true` adds its signals, `include_metadata=false` drops
    its metadata."""
    session = read_session()
    content = _content(session, bank_name, content_id)
    body: dict[str, Any] = {
        "bank": bank_json(content.bank),
        "disable_until_ts": disable_until_ts(content),
        "id": content.id,
        "original_media_uri": None,
    }
    if request.args.get("include_metadata", "true").lower() == "true":
        shown = shown_metadata(content, _exchange_name(session, content))
        if shown is not None:
            body["metadata"] = shown
    if content.note:
        body["note"] = content.note
    if request.args.get("include_signals", "false").lower() == "true":
        signals = hma_signals(content)
        if signals:
            body["signals"] = signals
    return answer(body)


@hma_api.put("/c/bank/<bank_name>/content/<int:content_id>")
def update_content(bank_name: str, content_id: int) -> Response:
    """Enable, disable (for good, or until a time) or annotate one item."""
    body = json_body()
    session = db_session()
    content = _content(session, bank_name, content_id)
    if not isinstance(body, dict):
        fail(400, "this endpoint expects a json object payload")
    changes: dict[str, Any] = {}
    if "disable_until_ts" in body:
        try:
            enabled, until = parse_disable_until(body["disable_until_ts"], time.time())
        except ValueError as exc:
            fail(400, str(exc))
        changes |= {"enabled": enabled, "disabled_until": until}
    if "note" in body:
        changes["note"] = _note(body["note"])
    if changes:
        curation.change_content(
            session, actor(), content.bank, content, services().taxonomy, **changes
        )
        session.commit()
    exchange = _exchange_name(session, content)
    collab = {exchange: [content.upstream_id]} if exchange and content.upstream_id else {}
    return answer(
        {
            "bank": bank_json(content.bank),
            "collab_metadata": collab,
            "disable_until_ts": disable_until_ts(content),
            "id": content.id,
            "note": content.note,
            "original_media_uri": None,
            "user_metadata": user_metadata(content),
        }
    )


@hma_api.delete("/c/bank/<bank_name>/content/<int:content_id>")
def delete_content(bank_name: str, content_id: int) -> Response:
    """Remove one item: `{"deleted": 1}`, or 0 when the bank has no such item."""
    session = db_session()
    bank = _bank(session, bank_name)
    try:
        content = store.get_content(session, bank, content_id)
    except ContentNotFound:
        return answer({"deleted": 0})
    curation.remove_content(session, actor(), bank, content)
    session.commit()
    return answer({"deleted": 1})


# Signal and content types ---------------------------------------------------------------


@hma_api.get("/c/signal_type")
def signal_types() -> Response:
    ratios = state.read_prefixed(read_session(), SIGNAL_RATIO)
    return answer(
        [
            {"enabled_ratio": ratios.get(name, {}).get("enabled_ratio", 1.0), "name": name}
            for name in SIGNAL_TYPES
        ]
    )


@hma_api.put("/c/signal_type/<signal_type_name>")
def set_signal_type(signal_type_name: str) -> Response:
    """Set a signal type's ratio (0 to 1; at 0 it still counts as enabled, as in HMA)."""
    body = json_body()
    if not isinstance(body, dict):
        fail(400, "this endpoint expects a json object payload")
    if signal_type_name not in SIGNAL_TYPES:
        fail(404, f"No such signal type '{signal_type_name}'")
    raw = body.get("enabled_ratio")
    if raw is None:
        fail(400, "enabled_ratio is required")
    try:
        ratio = float(raw)
    except (TypeError, ValueError):
        fail(400, f"Invalid float: {raw!r}")
    if not 0.0 <= ratio <= 1.0:
        fail(400, "enabled_ratio must be from 0.0 to 1.0")
    session = db_session()
    state.write(session, SIGNAL_RATIO + signal_type_name, {"enabled_ratio": ratio})
    session.commit()
    return answer({"enabled_ratio": ratio, "name": signal_type_name})


@hma_api.get("/c/signal_type/index")
def signal_type_index() -> Response:
    """Signals of each type in the banks, and in this process's index."""
    statuses = index_statuses(read_session(), request.args.get("signal_type"))
    for status in statuses.values():
        del status["present"]
    return answer(statuses)


@hma_api.get("/c/content_type")
def content_types() -> Response:
    return answer([{"enabled": True, "name": name} for name in CONTENT_TYPES])


# Helpers ----------------------------------------------------------------------------------


def _bank(session: Session, name: str) -> Bank:
    try:
        return store.get_bank(session, name)
    except BankNotFound:
        fail(404, f"bank '{name}' not found")


def _content(session: Session, bank_name: str, content_id: int) -> BankContent:
    bank = _bank(session, bank_name)
    try:
        return store.get_content(session, bank, content_id)
    except ContentNotFound:
        fail(404, f"content '{content_id}' not found")


def _content_fields() -> tuple[dict[str, Any] | None, str | None]:
    """`metadata` and `note`, from a JSON object body or from multipart fields only."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None, None
        raw_metadata, raw_note = body.get("metadata"), body.get("note")
    else:
        raw_note = request.form.get("note")
        raw_metadata = None
        if "metadata" in request.form:
            try:
                raw_metadata = json.loads(request.form["metadata"])
            except ValueError:
                fail(400, "metadata form field must be valid JSON")
    metadata = None
    if raw_metadata is not None:
        try:
            metadata = parse_metadata(raw_metadata)
        except ValueError as exc:
            fail(400, str(exc))
    return metadata or None, _note(raw_note)


def _note(value: Any) -> str | None:
    try:
        return parse_note(value)
    except ValueError as exc:
        fail(400, str(exc))


def _stored_signal(hma_type: str, value: Any) -> Signal:
    try:
        return Signal(type=SIGNAL_TYPES[hma_type], value=normalize_signal(hma_type, value))
    except SignalInvalid as exc:
        fail(400, f"Invalid {hma_type} signal: {exc}")


def _add(
    session: Session,
    bank: Bank,
    signals: list[Signal],
    metadata: dict[str, Any] | None,
    note: str | None,
) -> BankContent:
    try:
        content = curation.add_content(
            session,
            actor(),
            bank,
            signals,
            services().taxonomy,
            metadata=metadata,
            note=note,
            source="hma-api",
            keys=account_keys(),
        )
    except InvalidInput as exc:
        fail(400, exc.message)
    session.commit()
    return content


def _exchange_name(session: Session, content: BankContent) -> str | None:
    if content.exchange_id is None:
        return None
    return exchange_admin.name_of(session, content.exchange_id)
