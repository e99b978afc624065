"""Configuring reporters: adding, reading, checking and removing them, audited.

The shell hands in how to seal credentials and the egress policy; a reporter's
address is checked against that policy when it is added (a refusal now, not
at the first report), and its credentials are bound to that address's origin.
An address not given is the type's test environment: production is reached
only when an operator names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actioners.models import Report, Reporter
from actioners.reporters import reporter_type
from actioners.reporters.base import ReporterAdapter
from banks import validation
from banks.egress import Egress, EgressPolicy
from banks.exchanges.http import HttpClient, secret_parts
from core.errors import Conflict, InvalidInput, NotFound, ReportingFailed
from database import add_named, audit

Seal = Callable[[str], str]
Unseal = Callable[[str], str]


def add_reporter(
    session: Session,
    seal: Seal,
    policy: EgressPolicy,
    actor: str,
    name: str,
    kind: str,
    *,
    credentials: str,
    url: str | None = None,
    config: dict[str, Any] | None = None,
) -> Reporter:
    validation.name_of("reporter", name)
    adapter = reporter_type(kind)
    settings = adapter.config_type.parse(config or {}).to_dict()
    if not credentials:
        raise InvalidInput(f"{kind} reporters need credentials", code="missing_credentials")
    adapter.check_credentials(credentials)
    address = (url or adapter.default_base_url).rstrip("/")
    policy.check_url(address)
    reporter = Reporter(
        name=name, type=kind, base_url=address, settings=settings, credentials=seal(credentials)
    )
    add_named(session, reporter, "reporter", name)
    details = {"type": kind, "production": adapter.is_production(address)}
    audit.record(session, actor, audit.REPORTER_ADD, f"reporter:{name}", details)
    return reporter


def get_reporter(session: Session, name: str) -> Reporter:
    reporter = session.scalar(select(Reporter).where(Reporter.name == name))
    if reporter is None:
        raise NotFound(f"no reporter named {name!r}", code="reporter_not_found")
    return reporter


def all_reporters(session: Session) -> list[Reporter]:
    return list(session.scalars(select(Reporter).order_by(Reporter.name)))


def remove_reporter(session: Session, actor: str, name: str) -> None:
    """Remove a reporter that reported nothing yet: its reports are records to keep."""
    reporter = get_reporter(session, name)
    if session.scalar(select(Report.id).where(Report.reporter_id == reporter.id).limit(1)):
        raise Conflict(
            f"reporter {name!r} has reports, which are kept with it", code="reporter_has_reports"
        )
    session.delete(reporter)
    audit.record(session, actor, audit.REPORTER_REMOVE, f"reporter:{name}")


def reporter_status(reporter: Reporter) -> dict[str, Any]:
    """What a curator needs to see; never the credentials."""
    return {
        "name": reporter.name,
        "type": reporter.type,
        "url": reporter.base_url,
        "production": reporter_type(reporter.type).is_production(reporter.base_url),
        "settings": dict(reporter.settings),
        "enabled": reporter.enabled,
        "created_at": reporter.created_at.isoformat(),
    }


def adapter_for(reporter: Reporter, unseal: Unseal, egress: Egress) -> ReporterAdapter:
    """The reporter's type, speaking for it: its credentials go only to its address's origin."""
    kind = reporter_type(reporter.type)
    credentials = unseal(reporter.credentials)
    http = HttpClient(
        egress, origin_url=reporter.base_url, secrets=secret_parts(credentials), retries=2
    )
    return kind(kind.config_type.parse(reporter.settings), credentials, reporter.base_url, http)


def check_reporter(reporter: Reporter, unseal: Unseal, egress: Egress) -> dict[str, Any]:
    """Whether the service takes the reporter's credentials now, and its answer (or why
    there was none; never a credential)."""
    try:
        return {"ok": True, "answer": adapter_for(reporter, unseal, egress).check()}
    except ReportingFailed as exc:
        return {"ok": False, "answer": str(exc)}
