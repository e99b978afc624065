"""The append-only audit log: who did what to which case, user, bank or token.

Each entry carries the hash of the entry before it (`prev_hash`) and its own
`hash`, a SHA-256 over its contents and that `prev_hash`. Changing any stored
field of an entry, changing a stored hash, or removing an entry from the
middle of the log therefore breaks the chain at that point, and `verify`
names the first entry where it breaks.

The chain is keyed: each hash is an HMAC-SHA256 under a key derived from
the deployment's secret key, which lives outside the database. Someone who
can write the database but not read that key cannot recompute the hashes
after changing or removing an entry. (Entries written before the log was
keyed keep their plain SHA-256; once a keyed entry exists, an unkeyed one
after it is a rewrite.) Against someone who holds the key too, and against
removal of the newest entries, checkpoints help: the application appends
the head to a file outside the database (ideally on append-only storage)
after every transaction that recorded an entry, and `verify_checkpoints`
checks that the log still passes through every head written down. The same
file records from which entry on the log is keyed (`KeyedFrom`), so a
rewrite that marks entries unkeyed and re-chains them with plain SHA-256 is
caught even before the first checkpoint would have been.

The key reaches this module through the session (`session.info`, see
`KEY_INFO`): the application configures its sessions with it once, so every
caller of `record` writes keyed entries without passing a key around.

Appends are serialised so that two writers never chain onto the same entry
(which would fork the log): PostgreSQL takes a transaction-scoped advisory
lock; on SQLite the first write of the transaction takes the database's
single write lock, so `record` writes before it reads the previous hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, String, false, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from database import Base, BigId, JSONDocument, UTCDateTime, utcnow


class AuditEntry(Base):
    """One entry of the append-only audit log, chained to the one before by hash."""

    __tablename__ = "audit_log"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Whether `hash` is keyed (HMAC under the deployment's key) or a plain SHA-256.
    keyed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


#: The `prev_hash` of the first entry.
GENESIS = "0" * 64
#: Where a session carries the chain's key (`sessionmaker(info={KEY_INFO: key})`).
KEY_INFO = "audit_chain_key"
#: Where a session keeps the newest entry it recorded, until its transaction ends.
RECORDED_INFO = "audit_recorded"

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
#: Written by releases before follow-up cases; kept so that old logs read alike.
CASE_REOPENED = "case.reopened"
CASE_FOLLOW_UP = "case.follow_up"
CASE_MERGED = "case.merged"
RETENTION_RUN = "retention.run"
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
REPORTER_ADD = "reporter.add"
REPORTER_REMOVE = "reporter.remove"
REPORT_QUEUE = "report.queue"
REPORT_FINISH = "report.finish"
REPORT_RETRY = "report.retry"
REPORT_RETRACT = "report.retract"
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
    CASE_FOLLOW_UP,
    CASE_MERGED,
    RETENTION_RUN,
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
    REPORTER_ADD,
    REPORTER_REMOVE,
    REPORT_QUEUE,
    REPORT_FINISH,
    REPORT_RETRY,
    REPORT_RETRACT,
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
    key = chain_key(session)
    entry = AuditEntry(
        # Set here rather than by the column default: the hash must cover
        # exactly the value stored. Microseconds survive both engines.
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        details=_normalise(details or {}),
        prev_hash=prev_hash or GENESIS,
        keyed=key is not None,
    )
    entry.hash = entry_hash(
        entry.prev_hash, entry.at, entry.actor, entry.action, entry.subject, entry.details, key
    )
    session.add(entry)
    session.flush()
    session.info[RECORDED_INFO] = entry
    return entry


def recorded(session: Session) -> AuditEntry | None:
    """The newest entry this session recorded since the last call (its transaction's
    end), for the caller to anchor once the transaction has committed."""
    entry: AuditEntry | None = session.info.pop(RECORDED_INFO, None)
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


def chain_key(session: Session) -> bytes | None:
    """The key this session's entries are chained with (None: the plain SHA-256 of old)."""
    key = session.info.get(KEY_INFO)
    return bytes(key) if key is not None else None


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    key: bytes | None = None,
) -> str:
    """HMAC-SHA256 under `key` (plain SHA-256 without one), in hex, of the canonical
    JSON of an entry's contents and its predecessor's hash."""
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
    if key is not None:
        return hmac.new(key, encoded.encode("utf-8"), hashlib.sha256).hexdigest()
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


def verify(
    session: Session, batch: int = 10_000, keyed_from: KeyedFrom | None = None
) -> AuditVerification:
    """Walk the whole chain, oldest first, `batch` entries at a time.

    Every entry's hash is recomputed from its stored fields and its
    `prev_hash` must equal the hash of the entry before it; with `keyed_from`
    (read from outside the database), every entry from that id or that time
    on must be keyed. Memory stays constant however long the log is: plain
    rows are read by id range, never the whole table and never ORM objects.
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
        AuditEntry.keyed,
    )
    key = chain_key(session)
    keyed_seen = False
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
            if keyed_seen and not row.keyed:
                return _broken(checked, row.id, _unkeyed_problem(row.id))
            if keyed_from is not None and not row.keyed and keyed_from.covers(row.id, row.at):
                return _broken(checked, row.id, _downgrade_problem(row.id, keyed_from))
            if row.keyed and key is None:
                return _broken(checked, row.id, "entries from here are keyed: verify needs the key")
            keyed_seen = keyed_seen or row.keyed
            recomputed = entry_hash(
                row.prev_hash,
                row.at,
                row.actor,
                row.action,
                row.subject,
                row.details,
                key if row.keyed else None,
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


def _unkeyed_problem(entry_id: int) -> str:
    return (
        f"entry {entry_id} has a plain hash after keyed entries: entries from here were"
        " rewritten by someone without the key"
    )


def _downgrade_problem(entry_id: int, keyed_from: KeyedFrom) -> str:
    return (
        f"entry {entry_id} has a plain hash, but the checkpoint file says the log is keyed"
        f" from entry {keyed_from.entry_id} ({keyed_from.at:%Y-%m-%d %H:%M:%S} UTC) on: the"
        " log was rewritten without the key"
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


# Checkpoints: the chain's head, written down outside the database -------------------------


@dataclass(frozen=True)
class Checkpoint:
    entry_id: int
    hash: str
    at: str

    def to_line(self) -> str:
        return json.dumps({"entry_id": self.entry_id, "hash": self.hash, "at": self.at})

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        value = json.loads(line)
        return cls(int(value["entry_id"]), str(value["hash"]), str(value["at"]))


@dataclass(frozen=True)
class KeyedFrom:
    """From which entry, and from when, the log is keyed: written down outside the
    database when the deployment first anchors its log, so that no later entry can
    pass with a plain hash."""

    entry_id: int
    at: datetime

    def covers(self, entry_id: int, at: datetime) -> bool:
        return entry_id >= self.entry_id or at >= self.at

    def to_line(self) -> str:
        at = self.at.astimezone(UTC).isoformat(timespec="seconds")
        return json.dumps({"keyed_from_entry": self.entry_id, "at": at})

    @classmethod
    def from_line(cls, line: str) -> KeyedFrom | None:
        """The record a line holds, or None for a checkpoint line."""
        value = json.loads(line)
        if "keyed_from_entry" not in value:
            return None
        at = datetime.fromisoformat(str(value["at"]))
        if at.tzinfo is None:
            raise ValueError(f"{value['at']!r} has no time zone")
        return cls(int(value["keyed_from_entry"]), at.astimezone(UTC))


def checkpoint(session: Session, keyed_from: KeyedFrom | None = None) -> Checkpoint | None:
    """The head of an intact chain, to write down elsewhere (None: the log is broken)."""
    result = verify(session, keyed_from=keyed_from)
    if not result.ok:
        return None
    head = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    at = utcnow().isoformat(timespec="seconds")
    return Checkpoint(int(head or 0), result.latest_hash or GENESIS, at)


def verify_checkpoints(session: Session, checkpoints: Iterable[Checkpoint]) -> list[str]:
    """What the log no longer agrees with: each checkpoint's entry must still be
    there with the hash written down (an empty list: all agree)."""
    problems = []
    for point in checkpoints:
        if point.entry_id == 0:
            continue
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.id == point.entry_id))
        if stored is None:
            problems.append(
                f"entry {point.entry_id}, the head at the checkpoint of {point.at}, is gone:"
                " entries were removed"
            )
        elif stored != point.hash:
            problems.append(
                f"entry {point.entry_id} no longer has the hash written down at {point.at}:"
                " the log was rewritten up to or before it"
            )
    return problems
