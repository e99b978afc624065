"""Tables for banks, their content, the signals of that content, and the change log."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.names import FeedbackStatus
from database import Base, BigId, JSONDocument, UTCDateTime, utcnow


class Bank(Base):
    """A named list of known content, curated here or followed from an exchange."""

    __tablename__ = "banks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The share of HMA-API lookups the bank takes part in (HMA's
    #: `matching_enabled_ratio`: a coin flip per lookup, 1.0 always, 0.0 never).
    #: Our own API and scans go by `enabled` alone.
    matching_ratio: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0")
    #: Match distances by signal type name, for Hamming types (`{"pdq": 20}`): at or
    #: under it this bank's signals of that type match. A type not named here uses
    #: the deployment's threshold for it.
    thresholds: Mapped[dict[str, int]] = mapped_column(
        JSONDocument, default=dict, server_default="{}"
    )
    #: Readable by tokens of role `exchange`, as a feed of its changes.
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Whether a published bank's feed may carry content that came from an
    #: exchange (off: only the bank's own content is shared onward; what came
    #: from NCMEC, StopNCII or a peer stays under that program's rules).
    reshare: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The key (a name in the `account_keys` setting) under which this bank stores
    #: account identifiers as keyed hashes instead of clear text; None: clear text.
    account_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: How far reviewers' priority trusts this bank's matches (0 to 10 points).
    trust: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BankContent(Base):
    """One piece of known content: its signals, tags and free-form metadata.

    Media is never stored, only the signals computed from it. Content that an
    exchange brought in carries the exchange and the upstream id it has there,
    which is how later updates and deletions find it.
    """

    __tablename__ = "bank_content"
    __table_args__ = (
        Index("ix_bank_content_exchange_id_upstream_key", "exchange_id", "upstream_key"),
        Index("ix_bank_content_exchange_id_upstream_digest", "exchange_id", "upstream_digest"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Disabled content comes back by itself at this time (None: disabled until
    #: someone enables it); see `store.enable_due`.
    disabled_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: A curator's note on the item.
    note: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    #: Caller-supplied facts about the content (named `metadata` in the API).
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument, default=dict)
    #: Where the content came from: "api", "cli", "import", "exchange:<name>".
    source: Mapped[str] = mapped_column(String(200), default="api")
    exchange_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchanges.id", ondelete="SET NULL"), nullable=True
    )
    #: The exchange (`<type>:<name>`) the content came from, once it no longer belongs
    #: to one (kept after the exchange was removed, imported from HMA's exchange
    #: content): another program's still, shared only by a `reshare` bank.
    origin_exchange: Mapped[str | None] = mapped_column(String(200), nullable=True)
    upstream_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: `short_hash(upstream_id)`: what lookups by upstream id use (see `short_hash`).
    upstream_key: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: A digest of the upstream record it was last written from (lists set it):
    #: a resync skips records whose digest the exchange's content already holds.
    upstream_digest: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The full resync of its exchange that last saw it (older ones are swept away).
    sync_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bank: Mapped[Bank] = relationship()
    signals: Mapped[list[BankSignal]] = relationship(
        back_populates="content",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BankSignal.id",
    )

    @validates("upstream_id")
    def _key_upstream_id(self, _name: str, upstream_id: str | None) -> str | None:
        self.upstream_key = None if upstream_id is None else short_hash(upstream_id)
        return upstream_id


class BankSignal(Base):
    """One signal of one piece of bank content; indexes store these rows' ids."""

    __tablename__ = "bank_signals"
    __table_args__ = (
        Index("ix_bank_signals_bank_id_value_hash", "bank_id", "value_hash"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_id: Mapped[int] = mapped_column(
        ForeignKey("bank_content.id", ondelete="CASCADE"), index=True
    )
    #: Repeats the content's bank so that per-bank scans need no join (the
    #: bank/value-hash index serves them).
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    #: `short_hash(value)`: what lookups by value within a bank use.
    value_hash: Mapped[int] = mapped_column(BigInteger)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)

    content: Mapped[BankContent] = relationship(back_populates="signals")

    @validates("value")
    def _hash_value(self, _name: str, value: str) -> str:
        self.value_hash = short_hash(value)
        return value


def short_hash(text: str) -> int:
    """A signed 64-bit digest of `text`, the indexed stand-in for long text keys.

    Index entries of eight bytes instead of a 64-character hash (or a vPDQ
    list, which no B-tree entry could hold) keep the indexes small enough to
    stay in cache while a sync inserts a million rows in random key order.
    Equal digests are only candidates: lookups confirm them against the text.
    """
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class SignalChange(Base):
    """Append-only log of signals entering and leaving banks.

    Every process keeps its in-memory indexes current by applying the entries
    after the last id it has seen, so a change never forces a full rebuild;
    followers of a published bank read its entries as a feed. Entries are
    never updated or deleted.
    """

    __tablename__ = "signal_changes"
    __table_args__ = (
        Index("ix_signal_changes_bank_id_id", "bank_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: "add", "remove", or "update" (tags or metadata changed; indexes ignore it).
    op: Mapped[str] = mapped_column(String(8))
    bank_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    content_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    signal_id: Mapped[int] = mapped_column(BigId)
    #: Set for a run: every signal from `signal_id` to this id was added to the
    #: bank (`signal_type` and `value` are then empty; see banks.changelog).
    last_signal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Exchange(Base):
    """A bank's connection to a signal exchange, and the state of its syncs.

    `checkpoint` is committed in the same transaction as the data it covers.
    `resync_generation` is set while a full resync runs: content it sees gets
    that generation, and content of the exchange left with an older one is
    removed when the resync completes.
    """

    __tablename__ = "exchanges"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    #: The adapter's settings (never secrets: those are in `credentials`).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: Encrypted with the deployment's secret key; never logged or returned.
    credentials: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    feedback_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    resync_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    #: A curator asked for a sync now (the jobs process runs it within seconds).
    sync_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Counts over all runs, and over the last run.
    totals: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    last_run: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bank: Mapped[Bank] = relationship()


class ExchangeRun(Base):
    """One sync of an exchange: when, how far it has got, and how it ended.

    Written as the sync goes (`records` grows with each committed batch), so
    the console can show a running sync's progress from any process.
    """

    __tablename__ = "exchange_runs"
    __table_args__ = (
        Index("ix_exchange_runs_exchange_id_id", "exchange_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: None while running.
    ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Records taken so far (added, changed, unchanged, deleted or skipped).
    records: Mapped[int] = mapped_column(Integer, default=0)
    #: What the last complete run took, as this run's expected size (None: unknown).
    expected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ExchangeFeedback(Base):
    """Feedback owed to an exchange after a reviewer's decision (an outbox).

    A scheduler job sends due rows with retries; nothing is sent before
    `not_before`, which leaves the reviewer's undo window open.
    """

    __tablename__ = "exchange_feedback"
    __table_args__ = (
        UniqueConstraint("exchange_id", "case_id", "content_id"),
        Index("ix_exchange_feedback_status_next_attempt_at", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(BigId)
    content_id: Mapped[int] = mapped_column(BigId)
    upstream_id: Mapped[str] = mapped_column(String(255))
    #: "positive" (confirmed) or "negative" (rejected as a false positive).
    verdict: Mapped[str] = mapped_column(String(16))
    #: What the adapter needs to address the feedback (signals, upstream metadata).
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=FeedbackStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @classmethod
    def about(
        cls,
        content: BankContent,
        case_id: int,
        verdict: str,
        due: datetime,
        **extra: Any,
    ) -> ExchangeFeedback:
        """The feedback owed to `content`'s exchange (`case_id` 0: no case led to
        it, as with a removal on appeal)."""
        assert content.exchange_id is not None and content.upstream_id is not None
        return cls(
            exchange_id=content.exchange_id,
            case_id=case_id,
            content_id=content.id,
            upstream_id=content.upstream_id,
            verdict=verdict,
            next_attempt_at=due,
            detail={
                "signals": [[s.signal_type, s.value] for s in content.signals],
                "metadata": dict(content.details),
                "review_tags": list(content.tags),
                **extra,
            },
        )


class AppealRemoval(Base):
    """An exchange's item a curator removed on appeal, and why.

    The sync engine never adds it back, whatever the exchange keeps sending;
    the exchange was told (when it takes feedback) that the item is not abuse.
    """

    __tablename__ = "appeal_removals"
    __table_args__ = (
        UniqueConstraint("exchange_id", "upstream_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    upstream_id: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    removed_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HmaApiSetting(Base):
    """State that only HMA's API has: credentials per exchange type, signal type ratios.

    HMA keeps exchange credentials per API type, shared by every exchange of
    that type; they are kept here (sealed with the deployment's key) and
    copied onto each such exchange, which is where syncs read them.
    """

    __tablename__ = "hma_api_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
