"""The append-only audit log: who did what to which case, user, bank or token.

Each entry carries the hash of the entry before it (`prev_hash`) and its own
`hash`, a SHA-256 over its contents and that `prev_hash`. Changing any stored
field of an entry, changing a stored hash, or removing an entry from the
middle of the log therefore breaks the chain at that point, and `verify`
names the first entry where it breaks.

What the chain cannot show on its own: someone with write access who
rewrites every entry from the tampered one onward (recomputing each hash),
or who removes entries from the end, leaves a chain that verifies. Operators
guard against that by keeping the latest hash somewhere the database's
writers cannot reach (a ticket, a signed message, another system's log):
`hma audit verify` prints it, and a later log whose chain no longer passes
through a hash written down earlier has been rewritten.

Appends are serialised so that two writers never chain onto the same entry
(which would fork the log): PostgreSQL takes a transaction-scoped advisory
lock; on SQLite the first write of the transaction takes the database's
single write lock, so `record` writes before it reads the previous hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from actioners.models import AuditEntry
from database import utcnow

#: The `prev_hash` of the first entry.
GENESIS = "0" * 64

#: Arbitrary constant naming the audit-log lock among this app's advisory
#: locks (banks.changelog uses 0x484D41_01).
AUDIT_LOG_LOCK = 0x484D41_02

# Actions the application records. Others are allowed; these are the names
# the app itself uses, so that filters and reports can rely on them.
CASE_DECIDE = "case.decide"
CASE_UNDO = "case.undo"
CASE_APPROVE = "case.approve"
CASE_CLAIM = "case.claim"
CASE_RELEASE = "case.release"
CASE_REASSIGN = "case.reassign"
CASE_ESCALATE = "case.escalate"
CASE_REVEAL = "case.reveal"
CASE_EFFECTIVE = "case.effective"
CASE_REOPENED = "case.reopened"
USER_LOGIN = "user.login"
USER_LOGIN_FAILED = "user.login_failed"
USER_LOCKED = "user.locked"
USER_CREATE = "user.create"
USER_CHANGE = "user.change"
USER_BREAK_SKIPPED = "user.break_skipped"
BANK_CREATE = "bank.create"
BANK_CHANGE = "bank.change"
BANK_DELETE = "bank.delete"
EXCHANGE_ADD = "exchange.add"
EXCHANGE_CHANGE = "exchange.change"
EXCHANGE_REMOVE = "exchange.remove"
TOKEN_CREATE = "token.create"
TOKEN_REVOKE = "token.revoke"

ACTIONS = (
    CASE_DECIDE,
    CASE_UNDO,
    CASE_APPROVE,
    CASE_CLAIM,
    CASE_RELEASE,
    CASE_REASSIGN,
    CASE_ESCALATE,
    CASE_REVEAL,
    CASE_EFFECTIVE,
    CASE_REOPENED,
    USER_LOGIN,
    USER_LOGIN_FAILED,
    USER_LOCKED,
    USER_CREATE,
    USER_CHANGE,
    USER_BREAK_SKIPPED,
    BANK_CREATE,
    BANK_CHANGE,
    BANK_DELETE,
    EXCHANGE_ADD,
    EXCHANGE_CHANGE,
    EXCHANGE_REMOVE,
    TOKEN_CREATE,
    TOKEN_REVOKE,
)


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of walking the chain.

    `checked` counts the entries found intact (all of them when `ok`).
    `latest_hash` is the newest entry's hash when the whole chain is intact
    (GENESIS for an empty log) and None otherwise: it is the value to write
    down elsewhere.
    """

    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    latest_hash: str | None = None


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction; it is kept only if that commits.

    Recording inside the caller's transaction means an action and its entry
    are written together or not at all.
    """
    _lock(session)
    prev_hash = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        # Set here rather than by the column default: the hash must cover
        # exactly the value stored. Microseconds survive both engines.
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        details=_normalise(details or {}),
        prev_hash=prev_hash or GENESIS,
    )
    entry.hash = entry_hash(
        entry.prev_hash, entry.at, entry.actor, entry.action, entry.subject, entry.details
    )
    session.add(entry)
    session.flush()
    return entry


def _lock(session: Session) -> None:
    """Hold the audit log's append lock until the caller's transaction ends.

    PostgreSQL: an advisory lock, so the next writer reads the previous hash
    only after this transaction has committed its entry (READ COMMITTED then
    shows it). SQLite: a write that changes nothing still takes the database's
    write lock, and with it the newest committed state, before the previous
    hash is read; a read first could see a state another writer is about to
    extend.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOG_LOCK})
    else:
        session.execute(text("UPDATE audit_log SET id = id WHERE 0 = 1"))


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's contents and its predecessor's hash."""
    document = {
        "prev": prev_hash,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": _normalise(details),
    }
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _normalise(value: Any) -> Any:
    """`value` as it will read back from either engine's JSON column.

    A JSON round trip turns tuples into lists and keys into strings.
    PostgreSQL's JSONB then prints whole numbers written as floats in exponent
    form (1e20) as plain integers, so every whole float becomes the integer
    its decimal form names; other floats read back unchanged.
    """
    return _whole_floats_as_ints(json.loads(json.dumps(value, allow_nan=False)))


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    return value


def verify(session: Session, batch: int = 10_000) -> AuditVerification:
    """Walk the whole chain, oldest first, `batch` entries at a time.

    Every entry's hash is recomputed from its stored fields and its
    `prev_hash` must equal the hash of the entry before it. Memory stays
    constant however long the log is: plain rows are read by id range, never
    the whole table and never ORM objects.
    """
    columns = (
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.subject,
        AuditEntry.details,
        AuditEntry.prev_hash,
        AuditEntry.hash,
    )
    expected_prev = GENESIS
    previous_id: int | None = None
    checked = 0
    while True:
        query = select(*columns).order_by(AuditEntry.id).limit(batch)
        if previous_id is not None:
            query = query.where(AuditEntry.id > previous_id)
        rows = session.execute(query).all()
        for row in rows:
            if row.prev_hash != expected_prev:
                return _broken(checked, row.id, _gap_problem(row.id, previous_id))
            recomputed = entry_hash(
                row.prev_hash, row.at, row.actor, row.action, row.subject, row.details
            )
            if recomputed != row.hash:
                return _broken(checked, row.id, _mismatch_problem(session, row.id, recomputed))
            expected_prev = row.hash
            previous_id = row.id
            checked += 1
        if len(rows) < batch:
            return AuditVerification(ok=True, checked=checked, latest_hash=expected_prev)


def _broken(checked: int, entry_id: int, problem: str) -> AuditVerification:
    return AuditVerification(ok=False, checked=checked, first_broken_id=entry_id, problem=problem)


def _gap_problem(entry_id: int, previous_id: int | None) -> str:
    if previous_id is None:
        return (
            f"entry {entry_id} is the oldest entry but does not start the chain:"
            " earlier entries were removed, or its prev_hash was changed"
        )
    missing = (
        f" (ids {previous_id + 1} to {entry_id - 1} are missing)"
        if entry_id > previous_id + 1
        else ""
    )
    return (
        f"entry {entry_id} does not follow entry {previous_id}: its prev_hash is not"
        f" entry {previous_id}'s hash, so entries between them were removed{missing}"
        " or its prev_hash was changed"
    )


def _mismatch_problem(session: Session, entry_id: int, recomputed: str) -> str:
    """Say whether the entry's contents or only its stored hash were changed.

    If the next entry chains onto the hash the contents still produce, the
    contents are as written and the stored hash is what was altered.
    """
    following = session.scalar(
        select(AuditEntry.prev_hash)
        .where(AuditEntry.id > entry_id)
        .order_by(AuditEntry.id)
        .limit(1)
    )
    if following is None:
        return (
            f"entry {entry_id}, the newest, no longer matches its hash: its contents"
            " or its stored hash were changed"
        )
    if following == recomputed:
        return (
            f"entry {entry_id}'s stored hash was changed: its contents still match"
            " the hash the next entry chains onto"
        )
    return (
        f"entry {entry_id} was changed after it was written: its contents no longer match its hash"
    )


def recent(
    session: Session,
    limit: int = 50,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The newest `limit` entries, newest first, optionally of one actor and/or action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
