"""Exchanges a bank follows: configuration, status and manual syncs (curator routes)."""

from __future__ import annotations

import threading
from typing import Any

from flask import request

from actioners import audit
from banks.egress import shown_url
from hma.web.api import api
from hma.web.api.banks import changed, record, snapshot
from hma.web.auth import actor, require
from hma.web.context import db_session, services
from hma.web.errors import ApiError
from hma.web.inputs import json_object, optional_bool, optional_text


def _settings(body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("settings")
    if value is not None and not isinstance(value, dict):
        raise ApiError(400, "invalid_exchange_config", "settings must be a JSON object")
    return value


def _interval(body: dict[str, Any]) -> Any:
    return body.get("interval_seconds")


@api.get("/exchanges")
@require("curator")
def list_exchanges() -> dict[str, Any]:
    exchanges = services().exchanges
    return {"exchanges": [exchanges.status(e) for e in exchanges.all(db_session())]}


@api.post("/exchanges")
@require("curator")
def create_exchange() -> tuple[dict[str, Any], int]:
    body = json_object()
    exchanges = services().exchanges
    session = db_session()
    interval = _interval(body)
    exchange = exchanges.add(
        session,
        body.get("name"),  # type: ignore[arg-type]
        body.get("type"),  # type: ignore[arg-type]
        body.get("bank"),  # type: ignore[arg-type]
        url=optional_text(body, "url"),
        interval=3600 if interval is None else interval,
        config=_settings(body),
        credentials=optional_text(body, "credentials"),
        enabled=optional_bool(body, "enabled") is not False,
        feedback=optional_bool(body, "feedback_enabled") is not False,
    )
    details = {
        "type": exchange.type,
        "bank": exchange.bank.name,
        "interval": exchange.interval_seconds,
    }
    record(audit.EXCHANGE_ADD, f"exchange:{exchange.name}", details)
    session.commit()
    return exchanges.status(exchange), 201


@api.get("/exchanges/<name>")
@require("curator")
def get_exchange(name: str) -> dict[str, Any]:
    exchanges = services().exchanges
    return exchanges.status(exchanges.get(db_session(), name))


@api.patch("/exchanges/<name>")
@require("curator")
def update_exchange(name: str) -> dict[str, Any]:
    body = json_object()
    exchanges = services().exchanges
    session = db_session()
    exchange = exchanges.get(session, name)
    before = snapshot(exchange)
    exchanges.update(
        session,
        exchange,
        interval=_interval(body),
        config=_settings(body),
        credentials=optional_text(body, "credentials"),
        enabled=optional_bool(body, "enabled"),
        feedback=optional_bool(body, "feedback_enabled"),
        url=optional_text(body, "url"),
    )
    # Names only: a changed "credentials" is listed, its value never is; a new
    # address is recorded, as where the exchange's requests go from now on.
    details: dict[str, Any] = {"changed": changed(exchange, before)}
    if "base_url" in details["changed"]:
        details["url"] = shown_url(exchange.base_url) if exchange.base_url else None
    record(audit.EXCHANGE_CHANGE, f"exchange:{name}", details)
    session.commit()
    return exchanges.status(exchange)


@api.delete("/exchanges/<name>")
@require("curator")
def delete_exchange(name: str) -> tuple[str, int]:
    exchanges = services().exchanges
    exchanges.get(db_session(), name)
    keep = request.args.get("keep_content") == "true"
    exchanges.remove(name, keep_content=keep, actor=actor())  # audited in its transaction
    return "", 204


@api.post("/exchanges/<name>/sync")
@require("curator")
def sync_exchange(name: str) -> tuple[dict[str, Any], int]:
    """Start a sync in the background; its progress shows in the exchange's status."""
    body = json_object() if request.data else {}
    exchanges = services().exchanges
    exchanges.get(db_session(), name)
    full = optional_bool(body, "full") is True
    threading.Thread(
        target=exchanges.sync, args=(name, full), daemon=True, name=f"sync-{name}"
    ).start()
    return {"started": True, "full": full}, 202
