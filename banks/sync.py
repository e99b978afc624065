"""The sync engine: bringing a bank up to date with the exchange it follows.

Each batch an adapter yields is applied in one transaction together with the
checkpoint after it, so a sync killed at any moment resumes exactly where its
last commit left off: nothing is lost, and upserts keyed by the exchange's
own ids duplicate nothing.

A *full resync* reads everything again: the first sync, a forced one, one
after a checkpoint too old to trust (deletions expire upstream), and every
sync of a list. It stamps what it sees with a new generation and, once the
whole source has been read, removes the exchange's content left with an
older one: that is how deletions are found when an exchange forgets them.
The generation is stored before the resync starts, so a resync that is killed
carries on, with the same generation, when the sync next runs.

Records that cannot be used (a malformed hash, an unknown type) are skipped,
counted and logged, and never stop the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from banks import changelog, validation
from banks.errors import DomainError, NotFound
from banks.exchanges import adapter_type
from banks.exchanges.base import ExchangeAdapter, FetchBatch, UpstreamRecord
from banks.exchanges.errors import ExchangeError
from banks.exchanges.http import HttpClient
from banks.models import BankContent, BankSignal, Exchange, SignalChange, value_key
from banks.store import log_removals
from banks.taxonomy import Taxonomy
from database import utcnow
from hashers import HashingError, Registry

log = logging.getLogger(__name__)

#: Problems kept in an exchange's status (all are logged).
KEPT_PROBLEMS = 20
#: Ids per IN (...) list.
ID_CHUNK = 900


@dataclass
class SyncReport:
    exchange: str
    full: bool = False
    upserts: int = 0
    unchanged: int = 0
    deletes: int = 0
    swept: int = 0
    skipped_records: int = 0
    skipped_pages: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    #: False when another process was already syncing this exchange.
    ran: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None

    def note(self, problem: str) -> None:
        log.warning("exchange %s: %s", self.exchange, problem)
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)

    def counts(self) -> dict[str, int]:
        return {
            "upserts": self.upserts,
            "unchanged": self.unchanged,
            "deletes": self.deletes,
            "swept": self.swept,
            "skipped_records": self.skipped_records,
            "skipped_pages": self.skipped_pages,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "full": self.full,
            **self.counts(),
            "problems": list(self.problems),
            "error": self.error,
        }


@dataclass(frozen=True)
class _Prepared:
    """An upstream record checked and normalised, ready to write."""

    upstream_id: str
    signals: tuple[tuple[str, str], ...]
    tags: list[str]
    metadata: dict[str, Any]
    enabled: bool


class SyncEngine:
    """Runs syncs and builds adapters; knows the database but not the application."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        taxonomy: Taxonomy,
        decrypt: Callable[[str], str],
        http: Callable[[Sequence[str]], HttpClient] = lambda secrets: HttpClient(secrets=secrets),
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.taxonomy = taxonomy
        self.decrypt = decrypt
        self.http = http

    def adapter_for(self, exchange: Exchange) -> ExchangeAdapter:
        kind = adapter_type(exchange.type)
        secret = self.decrypt(exchange.credentials) if exchange.credentials else None
        config = kind.config_type.parse(exchange.settings)
        base_url = exchange.base_url or kind.default_base_url or ""
        return kind(config, secret, base_url, self.http([secret] if secret else []))

    # Running a sync -------------------------------------------------------------

    def run(self, name: str, force_full: bool = False) -> SyncReport:
        """One sync of the exchange `name`, in this thread. Never raises for exchange trouble."""
        report = SyncReport(name)
        try:
            plan = self._start(name, force_full, report)
            if plan is None:
                return report
            exchange_id, adapter, checkpoint, generation = plan
            for batch in adapter.fetch(checkpoint):
                with self.sessions.begin() as session:
                    self._apply(session, exchange_id, batch, generation, report)
            with self.sessions.begin() as session:
                self._finish(session, exchange_id, generation, report)
        except (ExchangeError, DomainError, HashingError) as exc:
            report.error = str(exc)
            log.warning("exchange %s: sync failed: %s", name, exc)
            with self.sessions.begin() as session:
                self._record_failure(session, name, report)
        return report

    def _start(
        self, name: str, force_full: bool, report: SyncReport
    ) -> tuple[int, ExchangeAdapter, dict[str, Any] | None, int] | None:
        with self.sessions.begin() as session:
            exchange = session.scalar(select(Exchange).where(Exchange.name == name))
            if exchange is None:
                raise NotFound(f"no exchange named {name!r}", code="exchange_not_found")
            adapter = self.adapter_for(exchange)
            exchange.last_started_at = utcnow()
            checkpoint = exchange.checkpoint
            resuming = exchange.resync_generation is not None
            full = force_full or resuming or checkpoint is None or adapter.is_stale(checkpoint)
            if adapter.always_full():
                if not full and not adapter.has_changed(checkpoint):
                    self._finish(session, exchange.id, exchange.generation, report)
                    return None
                full = True
            report.full = full
            if not full:
                return exchange.id, adapter, checkpoint, exchange.generation
            if not resuming or force_full:
                exchange.resync_generation = exchange.generation + 1
                start = None
            else:
                start = None if adapter.always_full() else checkpoint
            return exchange.id, adapter, start, int(exchange.resync_generation or 0)

    def _finish(
        self, session: Session, exchange_id: int, generation: int, report: SyncReport
    ) -> None:
        exchange = session.get_one(Exchange, exchange_id)
        if report.full:
            stale = (BankContent.exchange_id == exchange_id) & (
                func.coalesce(BankContent.sync_generation, -1) < generation
            )
            report.swept = self._delete_where(session, stale)
            exchange.generation = generation
            exchange.resync_generation = None
        exchange.last_success_at = utcnow()
        exchange.last_error = None
        exchange.consecutive_failures = 0
        self._record_run(exchange, report)

    def _record_failure(self, session: Session, name: str, report: SyncReport) -> None:
        exchange = session.scalar(select(Exchange).where(Exchange.name == name))
        if exchange is None:
            return
        exchange.last_error = report.error
        exchange.last_error_at = utcnow()
        exchange.consecutive_failures += 1
        self._record_run(exchange, report)

    @staticmethod
    def _record_run(exchange: Exchange, report: SyncReport) -> None:
        totals = dict(exchange.totals or {})
        for key, value in report.counts().items():
            totals[key] = totals.get(key, 0) + value
        totals["runs"] = totals.get("runs", 0) + 1
        exchange.totals = totals
        exchange.last_run = report.to_dict() | {"finished_at": utcnow().isoformat()}

    # Applying a batch ------------------------------------------------------------

    def _apply(
        self,
        session: Session,
        exchange_id: int,
        batch: FetchBatch,
        generation: int,
        report: SyncReport,
    ) -> None:
        exchange = session.get_one(Exchange, exchange_id)
        report.skipped_records += batch.skipped_records
        report.skipped_pages += batch.skipped_pages
        for problem in batch.problems:
            report.note(problem)
        prepared = {}
        for record in batch.upserts:
            ready = self._prepare(exchange.name, record, report)
            if ready is not None:
                prepared[ready.upstream_id] = ready  # a later copy in one batch wins
        if prepared:
            self._upsert(session, exchange, list(prepared.values()), generation, report)
        if batch.deletes:
            gone = set(batch.deletes) - set(prepared)
            for chunk in _chunks(sorted(gone)):
                report.deletes += self._delete_where(
                    session,
                    (BankContent.exchange_id == exchange_id) & BankContent.upstream_id.in_(chunk),
                )
        if batch.checkpoint is not None:
            exchange.checkpoint = batch.checkpoint

    def _prepare(
        self, exchange_name: str, record: UpstreamRecord, report: SyncReport
    ) -> _Prepared | None:
        signals = []
        for kind, value in record.signals:
            try:
                parsed = self.registry.parse(kind, value)
            except HashingError as exc:
                report.note(f"record {record.upstream_id}: {exc.message}")
                continue
            signals.append((parsed.type, parsed.value))
        if not signals:
            report.skipped_records += 1
            if not record.signals:
                report.note(f"record {record.upstream_id}: no signal of a supported type")
            return None
        tags = []
        for tag in self.taxonomy.normalize_all(record.tags):
            try:
                tags.extend(validation.tags([tag]))
            except DomainError:
                report.note(f"record {record.upstream_id}: tag {tag[:60]!r} dropped")
        try:
            metadata = validation.metadata(
                {"exchange": exchange_name, "upstream_id": record.upstream_id, **record.metadata}
            )
            tags = validation.tags(tags)
        except DomainError as exc:
            report.skipped_records += 1
            report.note(f"record {record.upstream_id}: {exc.message}")
            return None
        return _Prepared(
            record.upstream_id, tuple(sorted(set(signals))), tags, metadata, record.enabled
        )

    def _upsert(
        self,
        session: Session,
        exchange: Exchange,
        records: list[_Prepared],
        generation: int,
        report: SyncReport,
    ) -> None:
        existing: dict[str, BankContent] = {}
        for chunk in _chunks([r.upstream_id for r in records]):
            for content in session.scalars(
                select(BankContent).where(
                    BankContent.exchange_id == exchange.id, BankContent.upstream_id.in_(chunk)
                )
            ):
                existing[str(content.upstream_id)] = content
        fresh = [r for r in records if r.upstream_id not in existing]
        for record in records:
            content = existing.get(record.upstream_id)
            if content is not None:
                if self._update(session, content, record, generation):
                    report.upserts += 1
                else:
                    report.unchanged += 1
        if fresh:
            self._insert(session, exchange, fresh, generation)
            report.upserts += len(fresh)

    def _insert(
        self, session: Session, exchange: Exchange, records: list[_Prepared], generation: int
    ) -> None:
        """Bulk-insert new content, its signals and their change-log entries."""
        now = utcnow()
        content_ids = session.scalars(
            insert(BankContent).returning(BankContent.id, sort_by_parameter_order=True),
            [
                {
                    "bank_id": exchange.bank_id,
                    "enabled": r.enabled,
                    "tags": r.tags,
                    "details": r.metadata,
                    "source": f"exchange:{exchange.name}",
                    "exchange_id": exchange.id,
                    "upstream_id": r.upstream_id,
                    "sync_generation": generation,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in records
            ],
        ).all()
        rows = [
            {
                "content_id": content_id,
                "bank_id": exchange.bank_id,
                "signal_type": kind,
                "value": value,
                "value_key": value_key(value),
            }
            for content_id, record in zip(content_ids, records, strict=True)
            for kind, value in record.signals
        ]
        signal_ids = session.scalars(
            insert(BankSignal).returning(BankSignal.id, sort_by_parameter_order=True), rows
        ).all()
        enabled_content = {cid for cid, r in zip(content_ids, records, strict=True) if r.enabled}
        changes = [
            {
                "op": "add",
                "bank_id": exchange.bank_id,
                "content_id": row["content_id"],
                "signal_id": signal_id,
                "signal_type": row["signal_type"],
                "value": row["value"],
                "created_at": now,
            }
            for signal_id, row in zip(signal_ids, rows, strict=True)
            if row["content_id"] in enabled_content
        ]
        if changes:
            changelog.lock(session)
            session.execute(insert(SignalChange), changes)

    def _update(
        self, session: Session, content: BankContent, record: _Prepared, generation: int
    ) -> bool:
        """Bring existing content in line with the record; True if anything changed."""
        content.sync_generation = generation
        current = tuple(sorted((s.signal_type, s.value) for s in content.signals))
        changed = False
        if current != record.signals:
            if content.enabled:
                changelog.record(session, "remove", content.signals)
            content.signals = [
                BankSignal(
                    bank_id=content.bank_id,
                    signal_type=kind,
                    value=value,
                    value_key=value_key(value),
                )
                for kind, value in record.signals
            ]
            session.flush()
            if record.enabled:
                changelog.record(session, "add", content.signals)
            content.enabled = record.enabled
            changed = True
        elif content.enabled != record.enabled:
            changelog.record(session, "add" if record.enabled else "remove", content.signals)
            content.enabled = record.enabled
            changed = True
        if content.tags != record.tags or content.details != record.metadata:
            content.tags = record.tags
            content.details = record.metadata
            changelog.record(session, "update", content.signals)
            changed = True
        return changed

    @staticmethod
    def _delete_where(session: Session, condition: Any) -> int:
        """Delete matching content, logging its signals' removal; how many went."""
        doomed = select(BankContent.id).where(condition)
        count = int(session.scalar(select(func.count()).select_from(doomed.subquery())) or 0)
        if count:
            log_removals(session, BankSignal.content_id.in_(doomed))
            session.execute(delete(BankContent).where(BankContent.id.in_(doomed)))
            session.expire_all()
        return count

    # Exchanges as a whole ---------------------------------------------------------

    def remove(self, name: str, keep_content: bool = False) -> int:
        """Stop following an exchange; its content goes too unless kept. How many items went."""
        with self.sessions.begin() as session:
            exchange = session.scalar(select(Exchange).where(Exchange.name == name))
            if exchange is None:
                raise NotFound(f"no exchange named {name!r}", code="exchange_not_found")
            removed = 0
            if keep_content:
                session.execute(
                    update(BankContent)
                    .where(BankContent.exchange_id == exchange.id)
                    .values(exchange_id=None, upstream_id=None)
                )
            else:
                removed = self._delete_where(session, BankContent.exchange_id == exchange.id)
            session.delete(exchange)
            return removed


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), ID_CHUNK):
        yield list(items[start : start + ID_CHUNK])
