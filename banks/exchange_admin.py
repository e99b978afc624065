"""Curators' changes to the exchanges a deployment follows: adding one, changing it,
asking for a sync, and what its status shows.

Each change is audited with who made it. Credentials arrive in clear and are
sealed at once by the `seal` function the caller hands in (the deployment's
secret box); nothing here returns or logs them. An address is checked against
the egress policy when it is entered, so a curator hears of a refused address
now rather than at the first sync.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from banks import store, validation
from banks.curation import changed, snapshot
from banks.egress import EgressPolicy, is_local, location_origin, shown_url
from banks.exchanges import adapter_type
from banks.exchanges.base import ExchangeAdapter
from banks.models import BankContent, Exchange, ExchangeRun
from banks.sync import SyncEngine
from core.errors import InvalidInput, NotFound
from database import add_named, audit, utcnow

#: The shortest time between two syncs of an exchange, in seconds.
MIN_INTERVAL = 10

#: Turns credentials in clear into what is stored.
Seal = Callable[[str], str]


def add_exchange(
    session: Session,
    seal: Seal,
    policy: EgressPolicy,
    actor: str,
    name: str,
    kind: str,
    bank: str,
    *,
    url: str | None = None,
    interval: int = 3600,
    config: dict[str, Any] | None = None,
    credentials: str | None = None,
    enabled: bool = True,
    feedback: bool = True,
    credentials_later: bool = False,
) -> Exchange:
    """Follow an exchange into `bank`. `credentials_later`: the exchange may be
    added before its credentials (HMA's API sets them per type, apart); until
    then its syncs fail, saying so."""
    validation.name_of("exchange", name)
    adapter = adapter_type(kind)
    settings = adapter.config_type.parse(config or {}).to_dict()
    if not url and adapter.default_base_url is None:
        raise InvalidInput(
            f"{kind} exchanges need --url (where the feed is)", code="invalid_exchange_config"
        )
    if adapter.needs_credentials and not credentials and not credentials_later:
        raise InvalidInput(f"{kind} exchanges need credentials", code="missing_credentials")
    exchange = Exchange(
        name=name,
        type=kind,
        bank_id=store.get_bank(session, bank).id,
        base_url=url,
        interval_seconds=_interval(interval),
        settings=settings,
        credentials=seal(credentials) if credentials else None,
        enabled=enabled,
        feedback_enabled=feedback,
    )
    if url:
        check_address(policy, adapter, url)
    add_named(session, exchange, "exchange", name)
    details = {"type": kind, "bank": bank, "interval": exchange.interval_seconds}
    audit.record(session, actor, audit.EXCHANGE_ADD, f"exchange:{name}", details)
    return exchange


def update_exchange(
    session: Session,
    seal: Seal,
    policy: EgressPolicy,
    actor: str,
    exchange: Exchange,
    *,
    interval: int | None = None,
    config: dict[str, Any] | None = None,
    credentials: str | None = None,
    enabled: bool | None = None,
    feedback: bool | None = None,
    url: str | None = None,
) -> Exchange:
    """Change what is given; audited with the names of what changed (never the
    credentials), and the new address, as where the requests go from now on."""
    before = snapshot(exchange)
    if interval is not None:
        exchange.interval_seconds = _interval(interval)
    if config is not None:
        merged = {**exchange.settings, **config}
        exchange.settings = adapter_type(exchange.type).config_type.parse(merged).to_dict()
    if credentials is not None:
        exchange.credentials = seal(credentials) if credentials else None
    if enabled is not None:
        exchange.enabled = enabled
    if feedback is not None:
        exchange.feedback_enabled = feedback
    if url is not None and url != (exchange.base_url or ""):
        kind = adapter_type(exchange.type)
        if url:
            check_address(policy, kind, url)
        old = exchange.base_url or kind.default_base_url or ""
        new = url or kind.default_base_url or ""
        moved = location_origin(old) != location_origin(new)
        if exchange.credentials and credentials is None and moved:
            raise InvalidInput(
                "the new address is another origin than the one the credentials were"
                " entered for: send the credentials again with it",
                code="credentials_required",
            )
        exchange.base_url = url or None
    session.flush()
    details: dict[str, Any] = {"changed": changed(exchange, before)}
    if "base_url" in details["changed"]:
        details["url"] = shown_url(exchange.base_url) if exchange.base_url else None
    audit.record(session, actor, audit.EXCHANGE_CHANGE, f"exchange:{exchange.name}", details)
    return exchange


def check_address(policy: EgressPolicy, adapter: type[ExchangeAdapter], url: str) -> None:
    """Refuse now, with a 400, an address the egress policy would refuse at sync."""
    if adapter.reads_local_files and is_local(url):
        policy.local_file(url)
    else:
        policy.check_url(url)


def find_exchange(session: Session, name: str) -> Exchange | None:
    return session.scalar(select(Exchange).where(Exchange.name == name))


def get_exchange(session: Session, name: str) -> Exchange:
    exchange = find_exchange(session, name)
    if exchange is None:
        raise NotFound(f"no exchange named {name!r}", code="exchange_not_found")
    return exchange


def all_exchanges(session: Session) -> list[Exchange]:
    return list(session.scalars(select(Exchange).order_by(Exchange.name)))


def exchange_names(session: Session) -> list[str]:
    """Every exchange's name, in the order they were added."""
    return list(session.scalars(select(Exchange.name).order_by(Exchange.id)))


def exchanges_of_type(session: Session, kind: str) -> list[Exchange]:
    return list(session.scalars(select(Exchange).where(Exchange.type == kind)))


def name_of(session: Session, exchange_id: int) -> str | None:
    return session.scalar(select(Exchange.name).where(Exchange.id == exchange_id))


def content_count(session: Session, exchange: Exchange) -> int:
    """How many items of the exchange its bank holds."""
    held = select(func.count()).where(BankContent.exchange_id == exchange.id)
    return int(session.scalar(held) or 0)


def recent_runs(session: Session, exchange: Exchange, limit: int) -> list[ExchangeRun]:
    """The exchange's latest syncs, newest first."""
    return list(
        session.scalars(
            select(ExchangeRun)
            .where(ExchangeRun.exchange_id == exchange.id)
            .order_by(ExchangeRun.id.desc())
            .limit(limit)
        )
    )


def checkpoint_age(engine: SyncEngine, exchange: Exchange) -> float | None:
    """Seconds between the exchange's present and its stored checkpoint, where its
    adapter can tell (None too for a configuration that no longer parses)."""
    try:
        return engine.adapter_for(exchange).checkpoint_age(exchange.checkpoint)
    except Exception:  # an unusable configuration still has a status to show
        return None


def exchange_status(engine: SyncEngine, exchange: Exchange) -> dict[str, Any]:
    """What a curator needs to see; never the credentials."""
    age = checkpoint_age(engine, exchange)
    since_success = (
        time.time() - exchange.last_success_at.timestamp() if exchange.last_success_at else None
    )
    return {
        "name": exchange.name,
        "type": exchange.type,
        "bank": exchange.bank.name,
        "url": exchange.base_url,
        "interval_seconds": exchange.interval_seconds,
        "settings": dict(exchange.settings),
        "has_credentials": exchange.credentials is not None,
        "enabled": exchange.enabled,
        "feedback_enabled": exchange.feedback_enabled,
        "full_resync_in_progress": exchange.resync_generation is not None,
        "last_started_at": _iso(exchange.last_started_at),
        "last_success_at": _iso(exchange.last_success_at),
        "last_error": exchange.last_error,
        "last_error_at": _iso(exchange.last_error_at),
        "consecutive_failures": exchange.consecutive_failures,
        "seconds_since_success": round(since_success, 1) if since_success else None,
        "checkpoint_age_seconds": round(age, 1) if age is not None else None,
        "totals": dict(exchange.totals or {}),
        "last_run": dict(exchange.last_run or {}),
    }


def request_sync(session: Session, actor: str, exchange: Exchange) -> None:
    """Ask the jobs process for a sync of `exchange` now (it looks every few seconds)."""
    exchange.sync_requested_at = utcnow()
    details = {"sync_requested": True}
    audit.record(session, actor, audit.EXCHANGE_CHANGE, f"exchange:{exchange.name}", details)


def take_requested_syncs(session: Session) -> list[str]:
    """The names of the exchanges curators asked to sync, each request cleared as
    it is taken, so that each runs once."""
    wanted = list(session.scalars(select(Exchange).where(Exchange.sync_requested_at.is_not(None))))
    for exchange in wanted:
        exchange.sync_requested_at = None
    return [exchange.name for exchange in wanted]


def _interval(seconds: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < MIN_INTERVAL:
        raise InvalidInput(
            f"the interval is a whole number of seconds, at least {MIN_INTERVAL}",
            code="invalid_interval",
        )
    return seconds


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
