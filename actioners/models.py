"""Tables for review cases, the matches they hold, and reviewers' decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from database import Base, BigId, JSONDocument, UTCDateTime, utcnow

OPEN_STATUSES = ("open", "escalated")


class Case(Base):
    """Everything known about one upload (`content_ref`) that matched a bank.

    At most one case per `content_ref` is unresolved at a time (a partial
    unique index enforces it, also against concurrent scans); a later scan of
    the same upload adds its matches to that case.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_cases_unresolved_content_ref",
            "content_ref",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_ref: Mapped[str] = mapped_column(String(512), index=True)
    #: "open", "escalated" (still unresolved) or "closed".
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: The platform's own facts about the upload, as sent with the scan.
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument, default=dict)
    #: The decision that closed the case, if any.
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    matches: Mapped[list[CaseMatch]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CaseMatch.id",
    )
    decisions: Mapped[list[CaseDecision]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CaseDecision.id"
    )


class CaseMatch(Base):
    """One bank signal that one of the upload's signals matched.

    Bank name and tags are copied at match time: the case records the evidence
    the reviewer is shown even if the bank changes later.
    """

    __tablename__ = "case_matches"
    __table_args__ = (
        UniqueConstraint("case_id", "signal_id", "query_signal"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(BigId)
    bank_name: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[int] = mapped_column(BigId)
    signal_id: Mapped[int] = mapped_column(BigId)
    signal_type: Mapped[str] = mapped_column(String(64))
    #: The bank's signal value, and the upload's value that matched it.
    signal: Mapped[str] = mapped_column(Text)
    query_signal: Mapped[str] = mapped_column(Text)
    distance: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    #: The rotation or flip of the upload that matched, when not the original.
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: Matcher-specific facts, such as a video match's shares of matched frames.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="matches")


class CaseDecision(Base):
    """A reviewer's decision on a case: who, what, when and why."""

    __tablename__ = "case_decisions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
