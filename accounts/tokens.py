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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import ApiToken, TokenBank, User
from banks.models import Bank
from core.errors import Conflict, InvalidInput, NotFound
from core.names import Role
from database import utcnow

ROLES: tuple[str, ...] = tuple(role.value for role in Role)
TOKEN_PREFIX = "hma_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: Roles a personal token may have, by the role of the user it belongs to.
PERSONAL_ROLES: dict[str, tuple[str, ...]] = {
    Role.ADMIN: (Role.ADMIN, Role.CURATOR, Role.REVIEWER),
    Role.CURATOR: (Role.CURATOR,),
    Role.REVIEWER: (Role.REVIEWER,),
}


def create_token(
    session: Session,
    name: str,
    role: str,
    user: str | None = None,
    banks: Sequence[str] = (),
) -> str:
    """Store a new token and return its secret, which is never shown again.

    With `user`, a personal token: it acts as that console user, with a role
    that user has, and stops working when the account is disabled. `banks`:
    the published banks an `exchange` token may read (it reads no other).
    """
    if banks and role != Role.EXCHANGE:
        raise InvalidInput("only exchange tokens are scoped to banks", code="invalid_role")
    scope = [_bank_id(session, bank) for bank in banks]
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    if not name or len(name) > 100:
        raise InvalidInput("a token name is 1 to 100 characters", code="invalid_name")
    owner = None
    if user is not None:
        owner = session.scalar(select(User).where(User.username == user))
        if owner is None:
            raise NotFound(f"no user named {user!r}", code="user_not_found")
        if role not in PERSONAL_ROLES.get(owner.role, ()):
            raise InvalidInput(
                f"{user}'s role is {owner.role}: their tokens may have the roles"
                f" {', '.join(PERSONAL_ROLES[owner.role])}",
                code="invalid_role",
            )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with session.begin_nested():
            session.add(
                ApiToken(
                    name=name,
                    role=role,
                    secret_sha256=_digest(secret),
                    user_id=owner.id if owner else None,
                )
            )
    except IntegrityError:
        raise Conflict(f"a token named {name!r} already exists", code="token_exists") from None
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == name))
    session.add_all(TokenBank(token_id=token_id, bank_id=bank_id) for bank_id in scope)
    session.flush()
    return secret


def _bank_id(session: Session, name: str) -> int:
    bank_id = session.scalar(select(Bank.id).where(Bank.name == name))
    if bank_id is None:
        raise NotFound(f"no bank named {name!r}", code="bank_not_found")
    return int(bank_id)


def readable_banks(session: Session, token_name: str) -> set[int]:
    """The ids of the banks an `exchange` token may read."""
    return set(
        session.scalars(
            select(TokenBank.bank_id)
            .join(ApiToken, ApiToken.id == TokenBank.token_id)
            .where(ApiToken.name == token_name)
        )
    )


def verify_token(session: Session, secret: str) -> tuple[ApiToken, User | None] | None:
    """The live token with this secret and, for a personal token, its user; or None
    (also when the token's user is disabled)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.secret_sha256 == _digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    if token.user_id is None:
        return token, None
    user = session.get(User, token.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return token, user


@dataclass(frozen=True)
class Grant:
    """What a verified token lets its bearer do, as `TokenCache` remembers it."""

    name: str
    role: str
    last_used_at: datetime | None
    #: The console user a personal token acts as (None: a service token).
    username: str | None = None

    @property
    def actor(self) -> str:
        """Who acts, as decisions and the audit log name them: the person, for a
        personal token, so that the console and the API are one identity."""
        return f"user:{self.username}" if self.username else f"token:{self.name}"


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
            found = verify_token(session, secret)
            if found is None:
                with self._lock:
                    self._grants.pop(digest, None)
                return None
            token, user = found
            username = user.username if user is not None else None
            grant = Grant(token.name, token.role, token.last_used_at, username)
            cached = (now, grant)
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
    return role == Role.ADMIN or role == required
