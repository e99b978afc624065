"""Exchanges a bank follows: configuration, status and manual syncs (curator routes)."""

from __future__ import annotations

import threading
from typing import Any, cast

from core.names import Role
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import actor
from hma.web.context import db_session, services
from hma.web.typed import endpoint

_NO_EXCHANGE = {404: "No exchange of that name"}


@api.get("/exchanges")
@endpoint(
    "The exchanges and how each is doing", role=Role.CURATOR, responses={200: schemas.ExchangeList}
)
def list_exchanges() -> schemas.ExchangeList:
    exchanges = services().exchanges
    return {"exchanges": [_status(e) for e in exchanges.all(db_session())]}


def _status(exchange: Any) -> schemas.ExchangeStatus:
    return cast(schemas.ExchangeStatus, services().exchanges.status(exchange))


@api.post("/exchanges")
@endpoint(
    "Connect a bank to an exchange",
    role=Role.CURATOR,
    body=schemas.ExchangeCreate,
    responses={201: schemas.ExchangeStatus},
    errors={404: "No bank of that name", 409: "An exchange of that name exists"},
)
def create_exchange(body: schemas.ExchangeCreate) -> tuple[schemas.ExchangeStatus, int]:
    exchanges = services().exchanges
    session = db_session()
    exchange = exchanges.add(
        session,
        actor(),
        body.name,
        body.type,
        body.bank,
        url=body.url,
        interval=3600 if body.interval_seconds is None else body.interval_seconds,
        config=body.settings,
        credentials=body.credentials,
        enabled=body.enabled is not False,
        feedback=body.feedback_enabled is not False,
    )
    session.commit()
    return _status(exchange), 201


@api.get("/exchanges/<name>")
@endpoint(
    "An exchange's status",
    role=Role.CURATOR,
    responses={200: schemas.ExchangeStatus},
    errors=_NO_EXCHANGE,
)
def get_exchange(name: str) -> schemas.ExchangeStatus:
    return _status(services().exchanges.get(db_session(), name))


@api.patch("/exchanges/<name>")
@endpoint(
    "Change an exchange: address, interval, settings, credentials, switches",
    role=Role.CURATOR,
    body=schemas.ExchangeChange,
    responses={200: schemas.ExchangeStatus},
    errors=_NO_EXCHANGE,
)
def update_exchange(name: str, body: schemas.ExchangeChange) -> schemas.ExchangeStatus:
    exchanges = services().exchanges
    session = db_session()
    exchange = exchanges.get(session, name)
    exchanges.update(
        session,
        actor(),
        exchange,
        interval=body.interval_seconds,
        config=body.settings,
        credentials=body.credentials,
        enabled=body.enabled,
        feedback=body.feedback_enabled,
        url=body.url,
    )
    session.commit()
    return _status(exchange)


@api.delete("/exchanges/<name>")
@endpoint(
    "Disconnect an exchange, deleting what it brought unless asked to keep it",
    role=Role.CURATOR,
    query=schemas.ExchangeRemoval,
    responses={204: None},
    errors=_NO_EXCHANGE,
)
def delete_exchange(name: str, query: schemas.ExchangeRemoval) -> tuple[str, int]:
    exchanges = services().exchanges
    exchanges.get(db_session(), name)
    keep = query.keep_content == "true"
    exchanges.remove(name, keep_content=keep, actor=actor())  # audited in its transaction
    return "", 204


@api.post("/exchanges/<name>/sync")
@endpoint(
    "Start a sync in the background",
    role=Role.CURATOR,
    body=schemas.SyncRequest,
    body_optional=True,
    responses={202: schemas.SyncStarted},
    errors=_NO_EXCHANGE,
)
def sync_exchange(name: str, body: schemas.SyncRequest | None) -> tuple[schemas.SyncStarted, int]:
    """Start a sync in the background; its progress shows in the exchange's status."""
    exchanges = services().exchanges
    exchanges.get(db_session(), name)
    full = body is not None and body.full is True
    threading.Thread(
        target=exchanges.sync, args=(name, full), daemon=True, name=f"sync-{name}"
    ).start()
    return {"started": True, "full": full}, 202
