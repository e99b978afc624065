"""The append-only log of signals entering and leaving banks.

An entry names one signal, or (for signals a sync inserts in bulk) a run of
consecutive signal ids added to one bank: a million-line list then costs a
thousand log rows rather than a million. A run is read back as the signals
it still holds when it is read (only content stored enabled is in a run);
anything removed or disabled since has its own later entry, so applying
entries in order always ends where the tables are.

On PostgreSQL, ids from a sequence can become visible out of order (a later
transaction may commit first), and a reader that has moved past an id would
never see the earlier one. Writers therefore take a transaction-scoped
advisory lock before appending, so ids commit in the order they are handed
out. SQLite has a single writer at a time and needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import BigInteger, Row, bindparam, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from banks.bulk import insert_rows, table_of, timestamp
from banks.models import BankSignal, SignalChange
from hashers.signals import ACCOUNT

ChangeOp = Literal["add", "remove", "update"]

#: Arbitrary constant naming the change-log lock among this app's advisory locks.
CHANGE_LOG_LOCK = 0x484D41_01
#: Key in `Session.info` set when a transaction changes what matches: the
#: application applies such changes to its own indexes right after the commit.
MATCHING_CHANGED = "hma.matching_changed"
#: The most signals one run entry covers. It bounds what one entry expands
#: to, and so how far a feed page or a catch-up step can overshoot its limit.
RUN_MAX = 1000
_RUN_COLUMNS = (
    "op",
    "bank_id",
    "signal_id",
    "last_signal_id",
    "signal_type",
    "value",
    "created_at",
)


class Entry(NamedTuple):
    """One signal's change; the signals of a run share their entry's id."""

    id: int
    op: str
    bank_id: int | None
    content_id: int | None
    signal_type: str
    signal_id: int
    value: str


#: A run's signal as the database returns it: the fields of `Entry`, in order (left
#: as rows because a large sync brings a million).
RunSignal = Row[int, str, int, int, str, int, str]


@dataclass(frozen=True)
class Changes:
    """What `since` read: entries in log order, up to log id `through`.

    A run's signals come as the database's rows, with the fields of `Entry`.
    """

    entries: list[Entry | RunSignal]
    through: int
    #: Whether the log holds entries after `through` (for the same bank, if one was asked).
    more: bool


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


def record_added(session: Session, bank_id: int, signal_ids: Sequence[int], at: datetime) -> None:
    """Log the addition of signals of enabled content in `bank_id` as runs of
    consecutive ids (`signal_ids` ascending), in one bulk insert."""
    runs: list[list[int]] = []
    for signal_id in signal_ids:
        if runs and runs[-1][1] == signal_id - 1 and signal_id - runs[-1][0] < RUN_MAX:
            runs[-1][1] = signal_id
        else:
            runs.append([signal_id, signal_id])
    if not runs:
        return
    lock(session)
    stamp = timestamp(session, at)
    rows = [("add", bank_id, first, last, "", "", stamp) for first, last in runs]
    insert_rows(session, table_of(SignalChange), _RUN_COLUMNS, rows)


def key_accounts(session: Session, bank_id: int, keyed: Callable[[str], str]) -> None:
    """Rewrite every account the log holds for `bank_id` as its keyed hash.

    The one exception to an append-only log: a bank keyed to keep no account in
    clear must not keep one in its history either, where a feed read from its
    start, or a process replaying the log, would find it. Replaying stays
    right: removals go by signal id, and the keying's own removals and
    additions follow the rewritten entries.
    """
    clear = session.execute(
        select(SignalChange.id, SignalChange.value).where(
            SignalChange.bank_id == bank_id,
            SignalChange.signal_type == ACCOUNT.name,
            SignalChange.value != "",
            SignalChange.value.not_like("keyed:%"),
        )
    ).all()
    if not clear:
        return
    statement = (
        update(SignalChange)
        .where(SignalChange.id == bindparam("entry"))
        .values(value=bindparam("keyed"))
    )
    session.connection().execute(
        statement, [{"entry": entry, "keyed": keyed(value)} for entry, value in clear]
    )


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


#: A run's signals, in the shape of `Entry`: readers take the database's rows
#: as they are, since building an object per signal of a million-signal sync
#: cost more than reading it.
_RUN_SIGNALS = (
    select(
        bindparam("entry", type_=BigInteger).label("id"),
        literal("add").label("op"),
        BankSignal.bank_id,
        BankSignal.content_id,
        BankSignal.signal_type,
        BankSignal.id.label("signal_id"),
        BankSignal.value,
    )
    .where(BankSignal.id.between(bindparam("first"), bindparam("last")))
    .order_by(BankSignal.id)
)


def since(session: Session, after_id: int, limit: int, bank_id: int | None = None) -> Changes:
    """Entries after `after_id`, oldest first, about `limit` signals of them.

    Runs are expanded, and the read stops at an entry boundary: it may give
    fewer than `limit` signals (runs whose content is gone expand to nothing)
    or, when the first entry is a run, up to `RUN_MAX` more. Plain tuples
    rather than ORM objects: a process catching up after a large sync reads
    a million of them.
    """
    query = select(
        SignalChange.id,
        SignalChange.op,
        SignalChange.bank_id,
        SignalChange.content_id,
        SignalChange.signal_type,
        SignalChange.signal_id,
        SignalChange.value,
        SignalChange.last_signal_id,
    ).where(SignalChange.id > after_id)
    if bank_id is not None:
        query = query.where(SignalChange.bank_id == bank_id)
    connection = session.connection()
    rows = connection.execute(query.order_by(SignalChange.id).limit(limit + 1)).all()
    entries: list[Entry | RunSignal] = []
    through = after_id
    for number, row in enumerate(rows):
        if number == limit or (entries and _size(row) + len(entries) > limit):
            return Changes(entries, through, more=True)
        if row.last_signal_id is None:
            entries.append(Entry(*row[:7]))
        else:
            params = {"entry": row.id, "first": row.signal_id, "last": row.last_signal_id}
            entries.extend(connection.execute(_RUN_SIGNALS, params).all())
        through = row.id
    return Changes(entries, through, more=False)


def _size(row: Any) -> int:
    """How many signals a log row stands for, at most."""
    return 1 if row.last_signal_id is None else row.last_signal_id - row.signal_id + 1
