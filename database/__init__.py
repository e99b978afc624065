"""The shared declarative base and column types every persistent package uses, and
(in `database.audit`) the audit log every layer records its own changes in.

It lives apart from `hma` so that `banks` and `actioners` can define tables
and audit what they change without importing the application; `hma` owns
engines, sessions and migrations. Types here behave the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from core.errors import Conflict

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: JSON documents: JSONB where the engine has it.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Tables declare `sqlite_autoincrement`: ids referenced elsewhere (indexes,
    the change log, cases) must never be reused after a delete."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def add_named(session: Session, row: Base, what: str, name: str) -> None:
    """Add `row`, whose `name` must be unique among its kind (`what`: "exchange", ...):
    a Conflict naming it if taken, the session's other work kept (a savepoint)."""
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        article = "an" if what[0] in "aeiou" else "a"
        raise Conflict(
            f"{article} {what} named {name!r} already exists", code=f"{what}_exists"
        ) from None
