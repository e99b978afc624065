"""Tables of accounts: console users, their sessions and failed sign-ins, API tokens and
the banks an exchange token may read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from database import Base, BigId, JSONDocument, UTCDateTime, utcnow


class ApiToken(Base):
    """A bearer token for the HTTP API. Only a SHA-256 of the secret is stored.

    A service token (a platform's ingest, a peer's exchange token) acts as
    itself; a personal token belongs to a console user and acts as that
    person. Deciding and revealing need a personal token, so that the same
    person is the same identity in the console and in the API (the two-person
    rule, the exposure limit).
    """

    __tablename__ = "api_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The console user a personal token acts as (None: a service token).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )


class User(Base):
    """A person who signs in to the console: password plus TOTP, with a role.

    The password is stored as an Argon2id hash and the TOTP secret encrypted
    with the secret key. Failed sign-ins are limited per client address
    (`SignInFailure`), not per account, so a stranger cannot lock anyone out.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(300))
    #: The last TOTP time step accepted: a code is good for one login only.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    #: Preview blur, greyscale and the exposure limit, as the reviewer set them.
    wellness: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Review queues the user is a member of, beyond the default queue and the
    #: one named after them: escalated cases of other queues are not theirs.
    queues: Mapped[list[str] | None] = mapped_column(JSONDocument, nullable=True)
    #: The next sign-in must choose a new password and authenticator first.
    must_renew: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleSession(Base):
    """A signed-in console session, kept on the server.

    The browser's cookie holds a random key; only its SHA-256 is stored, so a
    copy of this table signs nobody in. Signing out, a reset, a renewal or
    disabling the account ends sessions here, at once, whatever copies of the
    cookie exist.
    """

    __tablename__ = "console_sessions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SignInFailure(Base):
    """One failed console sign-in: who was tried, from where, when (kept a day)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_address_at", "address", "at"),
        Index("ix_sign_in_failures_at", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenBank(Base):
    """A published bank an `exchange` token may read (its scope)."""

    __tablename__ = "token_banks"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )
