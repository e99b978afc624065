"""The append-only log of signals entering and leaving banks.

On PostgreSQL, ids from a sequence can become visible out of order (a later
transaction may commit first), and a reader that has moved past an id would
never see the earlier one. Writers therefore take a transaction-scoped
advisory lock before appending, so ids commit in the order they are handed
out. SQLite has a single writer at a time and needs no lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.orm import Session

from banks.models import BankSignal, SignalChange

ChangeOp = Literal["add", "remove", "update"]
#: One entry as `since` returns it: id, op, signal type, signal id, value.
Entry = tuple[int, str, str, int, str]

#: Arbitrary constant naming the change-log lock among this app's advisory locks.
CHANGE_LOG_LOCK = 0x484D41_01
#: Key in `Session.info` set when a transaction changes what matches: the
#: application applies such changes to its own indexes right after the commit.
MATCHING_CHANGED = "hma.matching_changed"


def record(session: Session, op: ChangeOp, signals: Iterable[BankSignal]) -> None:
    """Append one entry per signal; the signals must already have ids (flushed)."""
    rows = [
        {
            "op": op,
            "bank_id": s.bank_id,
            "content_id": s.content_id,
            "signal_id": s.id,
            "signal_type": s.signal_type,
            "value": s.value,
        }
        for s in signals
    ]
    if not rows:
        return
    lock(session)
    session.execute(insert(SignalChange), rows)


def mark_changed(session: Session) -> None:
    """Note that this transaction changes what lookups may match (see MATCHING_CHANGED)."""
    session.info[MATCHING_CHANGED] = True


def lock(session: Session) -> None:
    """Serialise change-log writers until this transaction ends (PostgreSQL only)."""
    mark_changed(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})


def head(session: Session) -> int:
    """The id of the newest entry (0 for an empty log)."""
    return int(session.scalar(select(func.coalesce(func.max(SignalChange.id), 0))) or 0)


def since(session: Session, after_id: int, limit: int) -> Sequence[Row[Entry]]:
    """Entries after `after_id`, oldest first, at most `limit` of them.

    Plain rows rather than ORM objects: a process catching up after a large
    sync reads a million of them.
    """
    query = select(
        SignalChange.id,
        SignalChange.op,
        SignalChange.signal_type,
        SignalChange.signal_id,
        SignalChange.value,
    ).where(SignalChange.id > after_id)
    return session.execute(query.order_by(SignalChange.id).limit(limit)).all()
