"""Figures per day for the curator console's overview: banks, syncs, matches, cases.

Each function counts in SQL, grouped by UTC day (`date()` on both engines),
over the last `days` days up to `now`, and answers one value per day per
series, zeros included, so that charts and their tables line up.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from actioners.models import Case, CaseDecision, CaseMatch
from banks.models import Bank, BankSignal, ExchangeRun, SignalChange
from core.names import DecisionState, Verdict

#: The banks the signals chart shows, largest first; the rest are summed as "others".
SHOWN_BANKS = 5


@dataclass(frozen=True)
class Series:
    """Days (ISO dates, oldest first) and a value per day for each named series."""

    days: list[str]
    values: dict[str, list[float]]


def _window(now: datetime, days: int) -> tuple[list[date], datetime]:
    """The last `days` days up to `now`, oldest first, and the moment the first began."""
    last = now.date()
    calendar = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return calendar, datetime.combine(calendar[0], datetime.min.time(), tzinfo=now.tzinfo)


def _day(value: Any) -> str:
    """`date()`'s answer as an ISO date: a string on SQLite, a date on PostgreSQL."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _per_day(session: Session, column: Any, since: datetime, *filters: Any) -> dict[str, int]:
    day = func.date(column)
    rows = session.execute(select(day, func.count()).where(column >= since, *filters).group_by(day))
    return {_day(d): int(n) for d, n in rows}


def _series(days: list[date], counts: Mapping[str, Mapping[str, float]]) -> Series:
    keys = [d.isoformat() for d in days]
    return Series(keys, {name: [by_day.get(k, 0) for k in keys] for name, by_day in counts.items()})


def signals_per_bank(session: Session, now: datetime, days: int = 30) -> Series:
    """Signals each bank held at the end of each day: today's counts, walked back
    through the change log (a run of additions counts every signal in it)."""
    calendar, since = _window(now, days)
    names = dict(session.execute(select(Bank.id, Bank.name)).all())
    held = dict(
        session.execute(select(BankSignal.bank_id, func.count()).group_by(BankSignal.bank_id)).all()
    )
    added = func.coalesce(SignalChange.last_signal_id - SignalChange.signal_id + 1, 1)
    net = func.sum(
        case((SignalChange.op == "add", added), (SignalChange.op == "remove", -1), else_=0)
    )
    day = func.date(SignalChange.created_at)
    changes: dict[int, dict[str, int]] = defaultdict(dict)
    for bank_id, d, n in session.execute(
        select(SignalChange.bank_id, day, net)
        .where(SignalChange.created_at >= since, SignalChange.bank_id.is_not(None))
        .group_by(SignalChange.bank_id, day)
    ):
        changes[bank_id][_day(d)] = int(n or 0)
    largest = sorted(names, key=lambda b: held.get(b, 0), reverse=True)
    counts: dict[str, Mapping[str, float]] = {}
    others: dict[str, float] = defaultdict(int)
    for rank, bank_id in enumerate(largest):
        level, by_day = int(held.get(bank_id, 0)), {}
        for d in reversed(calendar):
            key = d.isoformat()
            by_day[key] = level
            level -= changes[bank_id].get(key, 0)
        if rank < SHOWN_BANKS:
            counts[names[bank_id]] = by_day
        else:
            for key, value in by_day.items():
                others[key] += value
    if len(largest) > SHOWN_BANKS:
        counts["others"] = others
    return _series(calendar, counts)


def syncs_per_day(session: Session, now: datetime, days: int = 30) -> Series:
    calendar, since = _window(now, days)
    succeeded = _per_day(session, ExchangeRun.started_at, since, ExchangeRun.ok.is_(True))
    failed = _per_day(session, ExchangeRun.started_at, since, ExchangeRun.ok.is_(False))
    return _series(calendar, {"succeeded": succeeded, "failed": failed})


def matches_per_day(session: Session, now: datetime, days: int = 30) -> Series:
    calendar, since = _window(now, days)
    return _series(calendar, {"matches": _per_day(session, CaseMatch.created_at, since)})


def cases_per_day(session: Session, now: datetime, days: int = 30) -> Series:
    """Cases opened, and decisions that took effect (confirm or reject), per day."""
    calendar, since = _window(now, days)
    opened = _per_day(session, Case.created_at, since)
    decided = _per_day(
        session,
        CaseDecision.created_at,
        since,
        CaseDecision.state == DecisionState.EFFECTIVE,
        CaseDecision.decision.in_((Verdict.CONFIRM, Verdict.REJECT)),
    )
    return _series(calendar, {"opened": opened, "decided": decided})


def hours_to_decision(session: Session, now: datetime, days: int = 30) -> Series:
    """The median hours from a case's opening to its decision, by the day it was decided."""
    calendar, since = _window(now, days)
    rows = session.execute(
        select(CaseDecision.created_at, Case.created_at)
        .join(Case, Case.id == CaseDecision.case_id)
        .where(
            CaseDecision.created_at >= since,
            CaseDecision.state == DecisionState.EFFECTIVE,
            CaseDecision.decision.in_((Verdict.CONFIRM, Verdict.REJECT)),
        )
    )
    waits: dict[str, list[float]] = defaultdict(list)
    for decided, opened in rows:
        waits[decided.date().isoformat()].append((decided - opened).total_seconds() / 3600)
    medians = {day: round(statistics.median(hours), 2) for day, hours in waits.items()}
    return _series(calendar, {"median hours": medians})
