"""API tokens: creation, verification and the roles they carry.

A token is `hma_` followed by 32 random bytes (URL-safe base64). Only its
SHA-256 is stored: the secret has full entropy, so a fast hash is enough and
the database never holds anything a thief could replay.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal, get_args

from sqlalchemy import func, select
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
