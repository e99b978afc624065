"""`/c/exchanges`, `/c/exchange/<name>`: HMA's exchanges, as our exchanges.

An HMA exchange owns a bank of its own name, created and deleted with it.
Credentials are set per API type; they are kept sealed with the deployment's
key and copied onto every exchange of the type (each change audited, never
a value), which is where syncs read them.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flask import Response, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from banks import curation, exchange_admin, store
from banks.hma_vocabulary import BANK_NAME_MESSAGE, valid_bank_name
from banks.models import Exchange
from core.errors import Conflict
from database import audit
from hma.web.auth import actor
from hma.web.context import db_session, read_session, services
from hma.web.hma_api import answer, fail, hma_api, json_body, message, state, validated
from hma.web.hma_api.curation import delete_bank_named
from hma.web.hma_api.exchange_types import (
    API_TYPES,
    BY_OURS,
    ApiType,
    ParseError,
    Secret,
    parse_fields,
)

CREDENTIALS = "credentials:"
#: How often an exchange made here syncs (HMA fetches every few minutes).
SYNC_INTERVAL = 300
#: What HMA checks an exchange's name against first (a leading digit passes this).
_LOOSE_NAME = re.compile("[A-Z0-9_]+")


# API types and their credentials -------------------------------------------------------


@hma_api.get("/c/exchanges/apis")
def api_types() -> Response:
    return answer(list(API_TYPES))


@hma_api.get("/c/exchanges/api/<api_name>")
def api_type(api_name: str) -> Response:
    """Whether the type takes credentials, and whether they are set."""
    kind = _api_type(api_name)
    return answer(_auth_state(read_session(), kind))


@hma_api.post("/c/exchanges/api/<api_name>")
def set_credentials(api_name: str) -> Response:
    """Set the type's credentials (`{"credential_json": {...}}`), or clear them (`{}` as
    the value); every exchange of the type takes them."""
    kind = _api_type(api_name)
    body = json_body()
    if not isinstance(body, dict):
        fail(400, "this endpoint expects a json object payload")
    given = body.get("credential_json")
    session = db_session()
    if given is not None:
        if kind.credentials is None and given:
            fail(400, f"the {api_name} exchange API takes no credentials")
        if not given:
            _store_credentials(session, kind, None)
        elif kind.credentials is not None:
            try:
                values = parse_fields(kind.credentials, given, "credential_json")
            except ParseError as exc:
                fail(400, str(exc))
            _store_credentials(session, kind, values)
        session.commit()
    return answer(_auth_state(session, kind))


@hma_api.get("/c/exchanges/api/<api_name>/schema")
def api_schema(api_name: str) -> Response:
    """The fields of the type's configuration and credentials, to build forms from."""
    kind = API_TYPES.get(api_name)
    if kind is None:
        fail(404, f"Exchange API '{api_name}' not found")
    return answer(kind.schema())


# Exchanges --------------------------------------------------------------------------------


class UpdateExchange(BaseModel):
    enabled: bool | None = None


@hma_api.post("/c/exchanges")
def create_exchange() -> Response:
    """Create an exchange and the bank of the same name it fills."""
    body = json_body()
    if not isinstance(body, dict):
        fail(400, "this endpoint expects a json object payload")
    name = body.get("bank")
    if name is None:
        fail(400, "bank is required")
    if not isinstance(name, str) or not _LOOSE_NAME.fullmatch(name):
        fail(400, "Field `bank` must match /^[A-Z0-9_]+$/")
    if not valid_bank_name(name):
        fail(400, BANK_NAME_MESSAGE)
    api_json = body.get("api_json", {})
    if not isinstance(api_json, dict):
        fail(400, "Field `api_json` must be object")
    api = body.get("api")
    if api is None:
        fail(400, "Field `api_type` is required")
    kind = API_TYPES.get(api) if isinstance(api, str) else None
    if kind is None:
        fail(400, f"No such exchange type '{api}'")
    try:
        config = parse_fields(kind.config, api_json, "api_json")
    except ParseError as exc:
        fail(400, str(exc))
    enabled = api_json.get("enabled", True)
    if not isinstance(enabled, bool):
        fail(400, 'Failed to parse `api_json` - wrong value type for field "enabled"')
    session = db_session()
    if store.find_bank(session, name) is not None:
        fail(403, "Bank already exists")
    connection = kind.connect(config)
    secret = _stored_secret(session, kind)
    base_url = connection.base_url or (secret.base_url if secret else None)
    who = actor()
    curation.create_bank(session, who, name)
    services().exchanges.add(
        session,
        who,
        name,
        kind.ours,
        name,
        url=base_url,
        interval=SYNC_INTERVAL,
        config=connection.settings,
        credentials=secret.credentials if secret and kind.receives(base_url, secret) else None,
        enabled=enabled,
        credentials_later=True,
    )
    session.commit()
    return message(201, "Created successfully")


@hma_api.get("/c/exchanges")
def list_exchanges() -> Response:
    return answer(exchange_admin.exchange_names(read_session()))


@hma_api.get("/c/exchange/<exchange_name>")
def get_exchange(exchange_name: str) -> Response:
    return answer(_shown(_exchange(read_session(), exchange_name)))


@hma_api.put("/c/exchange/<exchange_name>")
def update_exchange(exchange_name: str) -> Response:
    """Enable or disable an exchange's syncs."""
    body = validated(UpdateExchange, request.get_json(silent=True))
    session = db_session()
    exchange = _exchange(session, exchange_name)
    if body.enabled is not None and body.enabled != exchange.enabled:
        services().exchanges.update(session, actor(), exchange, enabled=body.enabled)
        session.commit()
    return answer(_shown(exchange))


@hma_api.delete("/c/exchange/<exchange_name>")
def delete_exchange(exchange_name: str) -> Response:
    """Delete an exchange with its bank and content; done also when there was none."""
    exchange = exchange_admin.find_exchange(read_session(), exchange_name)
    if exchange is None:
        return message(200, "Exchange deleted")
    own_bank = exchange.bank.name == exchange_name
    try:
        services().exchanges.remove(exchange_name, keep_content=False, actor=actor())
    except Conflict as exc:
        fail(409, exc.message)
    if own_bank:
        delete_bank_named(exchange_name)
    return message(200, "Exchange deleted")


@hma_api.get("/c/exchange/<exchange_name>/status")
def exchange_status(exchange_name: str) -> Response:
    """The last fetch: when it ended, whether it worked, whether one runs now."""
    session = read_session()
    exchange = _exchange(session, exchange_name)
    finished = max(
        (t for t in (exchange.last_success_at, exchange.last_error_at) if t is not None),
        default=None,
    )
    started = exchange.last_started_at
    running = exchange.enabled and started is not None and (finished is None or started > finished)
    succeeded = None
    if finished is not None:
        succeeded = exchange.last_success_at is not None and exchange.last_success_at >= finished
    items = exchange_admin.content_count(session, exchange)
    return answer(
        {
            "checkpoint_ts": _checkpoint_ts(exchange),
            "fetched_items": items,
            "last_fetch_complete_ts": int(finished.timestamp()) if finished else None,
            "last_fetch_succeeded": succeeded,
            "running_fetch_start_ts": int(started.timestamp()) if running and started else None,
            "up_to_date": bool(succeeded) and exchange.resync_generation is None,
        }
    )


# Helpers ---------------------------------------------------------------------------------


def _api_type(name: str) -> ApiType:
    kind = API_TYPES.get(name)
    if kind is None:
        fail(400, f"no such Exchange API '{name}'")
    return kind


def _exchange(session: Session, name: str) -> Exchange:
    exchange = exchange_admin.find_exchange(session, name)
    if exchange is None:
        fail(404, f"Exchange '{name}' not found")
    return exchange


def _shown(exchange: Exchange) -> dict[str, Any]:
    kind = BY_OURS.get(exchange.type)
    own = kind.shown(exchange) if kind is not None else {}
    api = kind.name if kind is not None else exchange.type
    return own | {"api": api, "enabled": exchange.enabled, "name": exchange.name}


def _auth_state(session: Session, kind: ApiType) -> dict[str, bool]:
    return {
        "has_set_authentification": state.read(session, CREDENTIALS + kind.name) is not None,
        "supports_authentification": kind.credentials is not None,
    }


def _stored_secret(session: Session, kind: ApiType) -> Secret | None:
    stored = state.read(session, CREDENTIALS + kind.name)
    if stored is None:
        return None
    values = json.loads(services().box.decrypt(stored["sealed"]))
    return kind.seal(values)


def _store_credentials(session: Session, kind: ApiType, values: dict[str, Any] | None) -> None:
    """Keep (or clear) the type's credentials, and give them to each of its exchanges at
    the type's own addresses (`ApiType.receives`); each exchange that takes them is
    audited, and the type's entry names those that were passed over."""
    box = services().box
    sealed = None if values is None else {"sealed": box.encrypt(json.dumps(values))}
    state.write(session, CREDENTIALS + kind.name, sealed)
    who = actor()
    secret = kind.seal(values) if values is not None else None
    given: list[str] = []
    withheld: list[str] = []
    for exchange in exchange_admin.exchanges_of_type(session, kind.ours):
        if not kind.receives(exchange.base_url, secret):
            withheld.append(exchange.name)
            continue
        given.append(exchange.name)
        services().exchanges.update(
            session,
            who,
            exchange,
            credentials=secret.credentials if secret else "",
            url=(secret.base_url or "") if secret and kind.address_in_credentials else None,
        )
    audit.record(
        session,
        who,
        audit.EXCHANGE_CHANGE,
        f"exchange-api:{kind.name}",
        {
            "changed": ["credentials"] if values else ["credentials cleared"],
            "exchanges": given,
            "withheld_from": withheld,
        },
    )


def _checkpoint_ts(exchange: Exchange) -> int | None:
    """When the stored checkpoint stands, as a Unix time (None when it has none)."""
    age = exchange_admin.checkpoint_age(services().exchanges.engine, exchange)
    return None if age is None else int(time.time() - age)
