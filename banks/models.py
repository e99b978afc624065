"""Tables for banks, their content, the signals of that content, and the change log."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from database import Base, BigId, JSONDocument, UTCDateTime, utcnow

VALUE_KEY_LENGTH = 128


class Bank(Base):
    """A named list of known content, curated here or followed from an exchange."""

    __tablename__ = "banks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: PDQ distance at or under which this bank's images match; None uses the
    #: deployment's default.
    pdq_threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BankContent(Base):
    """One piece of known content: its signals, tags and free-form metadata.

    Media is never stored, only the signals computed from it.
    """

    __tablename__ = "bank_content"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    #: Caller-supplied facts about the content (named `metadata` in the API).
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument, default=dict)
    #: Where the content came from: "api", "cli", "import".
    source: Mapped[str] = mapped_column(String(200), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bank: Mapped[Bank] = relationship()
    signals: Mapped[list[BankSignal]] = relationship(
        back_populates="content",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BankSignal.id",
    )


class BankSignal(Base):
    """One signal of one piece of bank content; indexes store these rows' ids."""

    __tablename__ = "bank_signals"
    __table_args__ = (
        Index("ix_bank_signals_type_key", "signal_type", "value_key"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_id: Mapped[int] = mapped_column(
        ForeignKey("bank_content.id", ondelete="CASCADE"), index=True
    )
    #: Repeats the content's bank so that per-bank scans need no join.
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    #: The value itself when short, else a digest of it: what lookups by value use,
    #: because long values (a vPDQ list) exceed what a B-tree index entry may hold.
    value_key: Mapped[str] = mapped_column(String(VALUE_KEY_LENGTH))
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)

    content: Mapped[BankContent] = relationship(back_populates="signals")


def value_key(value: str) -> str:
    """The indexed stand-in for a signal value (see BankSignal.value_key)."""
    if len(value) <= VALUE_KEY_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


class SignalChange(Base):
    """Append-only log of signals entering and leaving banks.

    Every process keeps its in-memory indexes current by applying the entries
    after the last id it has seen, so a change never forces a full rebuild.
    Entries are never updated or deleted.
    """

    __tablename__ = "signal_changes"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    op: Mapped[str] = mapped_column(String(8))  # "add" or "remove"
    signal_id: Mapped[int] = mapped_column(BigId)
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
