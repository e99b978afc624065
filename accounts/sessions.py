"""Console sessions kept on the server, and the limits on failed sign-ins.

A session is a row, found by the SHA-256 of a random key the browser's
(signed) cookie carries. It ends when its owner signs out, when the account
is reset, renewed or disabled, after `IDLE` without a request, and in any
case `LIFETIME` after sign-in: a copied cookie is worth nothing after any of
these.

Failed sign-ins are limited per client address, never per account alone: a
stranger who could lock an account by failing five times could keep it
locked for ever. An address gets `PAIR_LIMIT` failures per username and
`ADDRESS_LIMIT` in all within `WINDOW`; beyond that its attempts are refused
before any password is hashed. Guessing across many addresses still faces the
TOTP code, one of a million, good once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from accounts.models import ConsoleSession, SignInFailure, User
from database import utcnow

#: A session ends this long after its last request...
IDLE = timedelta(hours=8)
#: ...and this long after sign-in, however busy.
LIFETIME = timedelta(hours=12)
#: Requests within this long of the last one seen do not write it again.
SEEN_GRANULARITY = timedelta(minutes=1)

WINDOW = timedelta(minutes=15)
#: Failures one address may have for one username within WINDOW...
PAIR_LIMIT = 5
#: ...and for all usernames together.
ADDRESS_LIMIT = 20
#: Failures are forgotten after this long.
KEEP_FAILURES = timedelta(days=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(session: Session, user: User) -> str:
    """A new session for `user`; returns the key its cookie must carry."""
    key = secrets.token_urlsafe(32)
    session.add(ConsoleSession(key_hash=_digest(key), user_id=user.id))
    session.flush()
    return key


def current_user(session: Session, key: str) -> User | None:
    """The user of the live session with `key`, or None (unknown, ended, expired,
    or the account is disabled)."""
    if not key:
        return None
    now = utcnow()
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.key_hash == _digest(key)))
    if row is None or row.ended_at is not None or _expired(row, now):
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if now - row.last_seen_at > SEEN_GRANULARITY:
        row.last_seen_at = now
        session.commit()
    return user


def _expired(row: ConsoleSession, now: datetime) -> bool:
    return now - row.created_at > LIFETIME or now - row.last_seen_at > IDLE


def end(session: Session, key: str) -> None:
    """Sign out: the session with `key` ends now."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.key_hash == _digest(key), ConsoleSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_all(session: Session, user: User, keep: str = "") -> int:
    """End every session of `user` (but the one with `keep`); returns how many."""
    query = update(ConsoleSession).where(
        ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None)
    )
    if keep:
        query = query.where(ConsoleSession.key_hash != _digest(keep))
    return int(session.execute(query.values(ended_at=utcnow())).rowcount)  # type: ignore[attr-defined]


# Failed sign-ins ---------------------------------------------------------------------


def refused_for(session: Session, username: str, address: str) -> bool:
    """Whether `address` has used up its failures (for `username`, or in all)."""
    since = utcnow() - WINDOW
    recent = select(func.count()).where(SignInFailure.address == address, SignInFailure.at > since)
    if int(session.scalar(recent) or 0) >= ADDRESS_LIMIT:
        return True
    pair = recent.where(SignInFailure.username == username[:100])
    return int(session.scalar(pair) or 0) >= PAIR_LIMIT


def record_failure(session: Session, username: str, address: str) -> None:
    now = utcnow()
    session.execute(delete(SignInFailure).where(SignInFailure.at < now - KEEP_FAILURES))
    session.add(SignInFailure(username=username[:100], address=address[:64], at=now))
    session.flush()
