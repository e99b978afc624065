"""API tokens: creation, verification and the roles they carry.

A token is `hma_` followed by 32 random bytes (URL-safe base64). Only its
SHA-256 is stored: the secret has full entropy, so a fast hash is enough and
the database never holds anything a thief could replay.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from banks.errors import Conflict, InvalidInput, NotFound
from database import utcnow
from hma.models import ApiToken

Role = Literal["admin", "curator", "reviewer", "ingest", "exchange"]
ROLES: tuple[str, ...] = get_args(Role)
TOKEN_PREFIX = "hma_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, role: str) -> str:
    """Store a new token and return its secret, which is never shown again."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    if not name or len(name) > 100:
        raise InvalidInput("a token name is 1 to 100 characters", code="invalid_name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with session.begin_nested():
            session.add(ApiToken(name=name, role=role, secret_sha256=_digest(secret)))
    except IntegrityError:
        raise Conflict(f"a token named {name!r} already exists", code="token_exists") from None
    return secret


def verify_token(session: Session, secret: str) -> ApiToken | None:
    """The live token with this secret, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.secret_sha256 == _digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


@dataclass(frozen=True)
class Grant:
    """What a verified token lets its bearer do, as `TokenCache` remembers it."""

    name: str
    role: str
    last_used_at: datetime | None


class TokenCache:
    """Verified tokens, remembered for a few seconds per process.

    Every API call is authenticated, and a database read per call was a
    quarter of a lookup's cost. A revoked token therefore keeps working for
    at most `seconds` more on each process. Unknown secrets are never
    remembered (so guessing fills nothing), and the cache is emptied when it
    reaches `most` entries.
    """

    #: Record a token's use at most this often: a write per request would
    #: serialise every API call on SQLite's single writer.
    USE_RECORD_SECONDS = 60

    def __init__(self, seconds: float = 5.0, most: int = 10_000) -> None:
        self.seconds, self.most = seconds, most
        self._grants: dict[str, tuple[float, Grant]] = {}
        self._lock = threading.Lock()

    def verify(self, session: Session, secret: str) -> Grant | None:
        """The grant of a live token with this secret, or None; records its use now and then."""
        digest = _digest(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._grants.get(digest)
        if cached is None or now - cached[0] >= self.seconds:
            token = verify_token(session, secret)
            if token is None:
                with self._lock:
                    self._grants.pop(digest, None)
                return None
            cached = (now, Grant(token.name, token.role, token.last_used_at))
        verified_at, grant = cached
        moment = utcnow()
        last = grant.last_used_at
        if last is None or (moment - last).total_seconds() > self.USE_RECORD_SECONDS:
            session.execute(
                update(ApiToken).where(ApiToken.name == grant.name).values(last_used_at=moment)
            )
            session.commit()
            grant = replace(grant, last_used_at=moment)
        with self._lock:
            if len(self._grants) >= self.most:
                self._grants.clear()
            # Kept with the time it was verified: recording a use does not extend that.
            self._grants[digest] = (verified_at, grant)
        return grant


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, name: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise NotFound(f"no token named {name!r}", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def has_tokens(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ApiToken)))


def allows(role: str, required: str) -> bool:
    """Whether a token of `role` may use routes that require `required`."""
    return role == "admin" or role == required
