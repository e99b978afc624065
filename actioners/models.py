"""Tables for review cases, the matches they hold, and reviewers' decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.names import CaseStatus, DecisionState, DeliveryStatus, ReportState
from database import Base, BigId, JSONDocument, UTCDateTime, utcnow


class Case(Base):
    """Everything known about one upload (`content_ref`) that matched a bank.

    At most one case per `content_ref` awaits review at a time (a partial
    unique index enforces it, also against concurrent scans); a later scan of
    the same upload adds its matches to that case. A case whose decision
    waits (pending) is left alone: new matches open a follow-up case.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_cases_unresolved_content_ref",
            "content_ref",
            unique=True,
            sqlite_where=text("status IN ('open', 'escalated')"),
            postgresql_where=text("status IN ('open', 'escalated')"),
        ),
        # The queue reads down the priority; the rest lets it filter and rank
        # from the index alone (see `actioners.queue`).
        Index("ix_cases_rank", "priority", "status", "queue", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_ref: Mapped[str] = mapped_column(String(512), index=True)
    #: "open", "escalated" (still unresolved), "pending" (decided, not yet in
    #: effect: inside the undo window or awaiting a second reviewer) or "closed".
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN, index=True)
    #: Severity plus confidence (0-100); the queue adds age when it ranks.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: Why the case scores what it does: the parts of `priority`, for reviewers.
    priority_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    #: Who holds the case, and until when; an expired lease returns it to the queue.
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The reviewer an admin handed the case to, if any.
    assigned_to: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The queue the case waits in: "default", or where an escalation sent it
    #: (a queue such as "senior", or a reviewer's name).
    queue: Mapped[str] = mapped_column(String(64), default="default")
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
    media: Mapped[CaseMedia | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
    )
    text: Mapped[CaseText | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
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
    #: The upload's signal quality (PDQ's 0-100), when its type has one.
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
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
    #: A confirmation's taxonomy classification; a rejection's reason.
    classification: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: "pending" (undo window open), "awaiting_second" (two-person rule),
    #: "effective" (acted on) or "undone".
    state: Mapped[str] = mapped_column(String(16), default=DecisionState.EFFECTIVE, index=True)
    #: When a pending decision takes effect, unless undone first.
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The second reviewer who agreed, under the two-person rule.
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseMedia(Base):
    """A reduced copy of the upload, kept only so that reviewers can see it safely.

    Stored at most `review_media_pixels` on its long side (never the upload
    itself unless configured); the console shows a blurred greyscale preview
    made from it, and the copy itself only after a logged reveal.
    """

    __tablename__ = "case_media"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseText(Base):
    """A post's text, kept so that reviewers can read it with the matched words marked.

    Shown blurred until revealed, as media is; deleted with its case by the
    retention rules.
    """

    __tablename__ = "case_texts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One decision's notice to the platform, retried until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int] = mapped_column(BigId)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Exposure(Base):
    """A reviewer opened a case's media: counted against their exposure limit."""

    __tablename__ = "reviewer_exposures"
    __table_args__ = (
        Index("ix_reviewer_exposures_reviewer_at", "reviewer", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int] = mapped_column(BigId)
    revealed: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reporter(Base):
    """A reporting service a deployment reports confirmed cases to (NCMEC's CyberTipline)."""

    __tablename__ = "reporters"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(Text)
    #: The type's settings (never secrets: those are in `credentials`).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: Encrypted with the deployment's secret key; never logged or returned.
    credentials: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Report(Base):
    """One report of a case to a reporter, taken a committed step at a time.

    `step` names the call in flight (committed before the call is made): after
    a crash it says what the service may have done without our knowing. A
    report becomes `finished` once, and only the finish call makes it so.
    """

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_state_next_attempt_at", "state", "next_attempt_at"),
        UniqueConstraint("case_id", "reporter_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The case reported; None once retention deleted the case (the report's record stays:
    #: that a case was reported, and under which NCMEC id, outlives the case).
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: A reporter with reports is never deleted (`reporter_admin.remove_reporter`).
    reporter_id: Mapped[int] = mapped_column(
        ForeignKey("reporters.id", ondelete="RESTRICT"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default=ReportState.QUEUED)
    #: The service's id of the report it holds open (NCMEC's report id).
    remote_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The call in flight: "submit", "upload:<n>", "fileinfo:<n>" or "finish".
    step: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: Per file of the report, in order: the service's file id once uploaded, and
    #: whether its description was taken.
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    #: Reports the service holds open for this one that were cancelled (retracted).
    retracted_ids: Mapped[list[int]] = mapped_column(JSONDocument, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseOriginal(Base):
    """The upload itself, encrypted with the deployment's key, kept only to be reported.

    Kept from the scan (with the `report_originals` setting) until the case's
    reports are finished, its rejection takes effect, or retention deletes the
    case's media, whichever comes first.
    """

    __tablename__ = "case_originals"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    #: The upload's bytes, sealed (Fernet: AES-128-CBC plus HMAC-SHA256).
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    md5: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
