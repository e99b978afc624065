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

Where records carry digests of their source text (lists), content keeps the
digest it was written from, and a resync that is not forced skips records
whose digest the exchange's content holds, without stamping them: the digests
it never met are what the sweep removes. A list with 1% of its lines changed
then costs a digest per line plus the work of the 1%.

Records that cannot be used (a malformed hash, an unknown type) are skipped,
counted and logged, and never stop the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, cast, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from banks import changelog, validation
from banks.bulk import any_of, insert_rows, reserve_ids, table_of, timestamp
from banks.egress import Egress
from banks.exchanges import adapter_type
from banks.exchanges.base import Checkpoint, ExchangeAdapter, FetchBatch, UpstreamRecord
from banks.exchanges.http import HttpClient, secret_parts
from banks.models import (
    AppealRemoval,
    BankContent,
    BankSignal,
    Exchange,
    ExchangeRun,
    short_hash,
)
from banks.store import log_removals
from banks.taxonomy import Taxonomy
from core.errors import DomainError, ExchangeError, HashingError, NotFound
from database import utcnow
from hashers import Registry

log = logging.getLogger(__name__)

#: Problems kept in an exchange's status (all are logged).
KEPT_PROBLEMS = 20
CONTENT_COLUMNS = (
    "upstream_digest",
    "id",
    "bank_id",
    "enabled",
    "tags",
    "metadata",
    "source",
    "exchange_id",
    "upstream_id",
    "upstream_key",
    "sync_generation",
    "created_at",
    "updated_at",
)
SIGNAL_COLUMNS = ("id", "content_id", "bank_id", "signal_type", "value", "value_hash")


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
    #: Items the exchange sent that a curator had removed on appeal (not re-added).
    withheld: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    #: False when another process was already syncing this exchange.
    ran: bool = True
    #: The `ExchangeRun` row this sync writes its progress and outcome to.
    run_id: int | None = None
    #: Seconds spent fetching from the exchange (network, parsing) and applying
    #: what came (checking, writing, committing): which side a slow sync waits on.
    seconds: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "apply": 0.0})

    @property
    def ok(self) -> bool:
        return self.error is None

    def note(self, problem: str) -> None:
        log.warning("exchange %s: %s", self.exchange, problem)
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started

    @property
    def records(self) -> int:
        """Records taken so far, whatever became of them."""
        return self.upserts + self.unchanged + self.deletes + self.skipped_records + self.withheld

    def counts(self) -> dict[str, int]:
        return {
            "upserts": self.upserts,
            "unchanged": self.unchanged,
            "deletes": self.deletes,
            "swept": self.swept,
            "skipped_records": self.skipped_records,
            "skipped_pages": self.skipped_pages,
            "withheld": self.withheld,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "full": self.full,
            **self.counts(),
            "problems": list(self.problems),
            "error": self.error,
            "seconds": {phase: round(value, 3) for phase, value in self.seconds.items()},
        }


@dataclass(frozen=True)
class _Prepared:
    """An upstream record checked and normalised, ready to write."""

    upstream_id: str
    signals: tuple[tuple[str, str], ...]
    tags: list[str]
    metadata: dict[str, Any]
    enabled: bool
    digest: int | None


@dataclass(frozen=True)
class _Stored:
    """What the bank holds for one upstream record."""

    content_id: int
    signals: tuple[tuple[str, str], ...]
    tags: list[str]
    metadata: dict[str, Any]
    enabled: bool
    generation: int | None
    digest: int | None

    def holds(self, record: _Prepared) -> bool:
        """True when the record would change nothing."""
        return (self.signals, self.tags, self.metadata, self.enabled) == (
            record.signals,
            record.tags,
            record.metadata,
            record.enabled,
        )


class SyncEngine:
    """Runs syncs and builds adapters; knows the database but not the application."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        taxonomy: Taxonomy,
        decrypt: Callable[[str], str],
        egress: Egress,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.taxonomy = taxonomy
        self.decrypt = decrypt
        self.egress = egress
        #: Keyword arguments of each adapter's `HttpClient` (timeouts, retries).
        self.client_options = dict(client_options or {})
        self._tag_cache: dict[tuple[str, ...], tuple[str, ...]] = {}

    def adapter_for(self, exchange: Exchange) -> ExchangeAdapter:
        kind = adapter_type(exchange.type)
        secret = self.decrypt(exchange.credentials) if exchange.credentials else None
        config = kind.config_type.parse(exchange.settings)
        base_url = exchange.base_url or kind.default_base_url or ""
        http = HttpClient(
            self.egress,
            origin_url=base_url,
            secrets=secret_parts(secret),
            **self.client_options,
        )
        return kind(config, secret, base_url, http)

    @staticmethod
    def _removed_on_appeal(
        session: Session, exchange_id: int, upstream_ids: Collection[str]
    ) -> list[str]:
        """Which of these items a curator removed on appeal: never added back.

        Appeals are few: the exchange's whole list is read (through its unique
        index) and compared here, instead of binding every id of the batch.
        """
        if not upstream_ids:
            return []
        removed = session.scalars(
            select(AppealRemoval.upstream_id).where(AppealRemoval.exchange_id == exchange_id)
        )
        return [upstream_id for upstream_id in removed if upstream_id in upstream_ids]

    # Running a sync -------------------------------------------------------------

    def run(self, name: str, force_full: bool = False) -> SyncReport:
        """One sync of the exchange `name`, in this thread. Never raises for exchange trouble."""
        report = SyncReport(name)
        try:
            plan = self._start(name, force_full, report)
            if plan is None:
                return report
            exchange_id, adapter, checkpoint, generation = plan
            held = None
            if report.full and adapter.digests_records and not force_full:
                with report.timing("apply"), self.sessions.begin() as session:
                    held = self._held(session, exchange_id)
            batches = iter(adapter.fetch_changed(checkpoint, held or frozenset()))
            try:
                while True:
                    with report.timing("fetch"):
                        batch = next(batches, None)
                    if batch is None:
                        break
                    with report.timing("apply"), self.sessions.begin() as session:
                        self._apply(session, exchange_id, batch, generation, report, held)
                        self._progress(session, report)
            finally:
                # An adapter's generator may hold a file or a connection open.
                close = getattr(batches, "close", None)
                if close is not None:
                    close()
            with report.timing("apply"), self.sessions.begin() as session:
                self._finish(session, exchange_id, generation, report, held)
        except (ExchangeError, DomainError, HashingError) as exc:
            report.error = str(exc)
            log.warning("exchange %s: sync failed: %s", name, exc)
            with self.sessions.begin() as session:
                self._record_failure(session, name, report)
        return report

    def _start(
        self, name: str, force_full: bool, report: SyncReport
    ) -> tuple[int, ExchangeAdapter, Checkpoint | None, int] | None:
        with self.sessions.begin() as session:
            exchange = session.scalar(select(Exchange).where(Exchange.name == name))
            if exchange is None:
                raise NotFound(f"no exchange named {name!r}", code="exchange_not_found")
            exchange.last_started_at = utcnow()
            self._open_run(session, exchange, report)
            adapter = self.adapter_for(exchange)
            checkpoint = adapter.checkpoint_type.read(exchange.checkpoint)
            resuming = exchange.resync_generation is not None
            full = force_full or resuming or checkpoint is None or checkpoint.is_stale(time.time())
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
                # The old checkpoint goes now: a resync stopped before its first
                # batch commits must start again from the beginning, not resume
                # from a position that would skip older records and then sweep them.
                exchange.checkpoint = None
                start = None
            else:
                start = None if adapter.always_full() else checkpoint
            return exchange.id, adapter, start, int(exchange.resync_generation or 0)

    @staticmethod
    def _held(session: Session, exchange_id: int) -> set[int]:
        """The record digests the exchange's content was written from."""
        return set(
            session.scalars(
                select(BankContent.upstream_digest).where(
                    BankContent.exchange_id == exchange_id,
                    BankContent.upstream_digest.is_not(None),
                )
            )
        )

    def _finish(
        self,
        session: Session,
        exchange_id: int,
        generation: int,
        report: SyncReport,
        unmet: set[int] | None = None,
    ) -> None:
        """Close a sync; a full resync sweeps what it did not see.

        `unmet`: of the digests held when a digest-skipping resync began, those
        no record carried (content seen through a held digest is not stamped).
        """
        exchange = session.get_one(Exchange, exchange_id)
        if report.full:
            stale = (BankContent.exchange_id == exchange_id) & (
                func.coalesce(BankContent.sync_generation, -1) < generation
            )
            if unmet is None:
                report.swept = self._delete_where(session, stale)
            else:  # two sweeps, each found through the exchange's digest index
                report.swept = self._delete_where(
                    session, stale & any_of(session, BankContent.upstream_digest, unmet)
                ) + self._delete_where(session, stale & BankContent.upstream_digest.is_(None))
            exchange.generation = generation
            exchange.resync_generation = None
        exchange.last_success_at = utcnow()
        exchange.last_error = None
        exchange.consecutive_failures = 0
        self._record_run(session, exchange, report)

    def _record_failure(self, session: Session, name: str, report: SyncReport) -> None:
        exchange = session.scalar(select(Exchange).where(Exchange.name == name))
        if exchange is None:
            return
        exchange.last_error = report.error
        exchange.last_error_at = utcnow()
        exchange.consecutive_failures += 1
        self._record_run(session, exchange, report)

    @staticmethod
    def _open_run(session: Session, exchange: Exchange, report: SyncReport) -> None:
        """Start this sync's row; its expected size is what the last complete run took.

        Only one sync of an exchange runs at a time (its lock), so a run still
        open now was cut short (its process died): it is closed as such.
        """
        session.execute(
            update(ExchangeRun)
            .where(ExchangeRun.exchange_id == exchange.id, ExchangeRun.ok.is_(None))
            .values(ok=False, finished_at=utcnow(), error="interrupted")
        )
        expected = session.scalar(
            select(ExchangeRun.records)
            .where(ExchangeRun.exchange_id == exchange.id, ExchangeRun.ok.is_(True))
            .order_by(ExchangeRun.id.desc())
            .limit(1)
        )
        run = ExchangeRun(exchange_id=exchange.id, expected=expected)
        session.add(run)
        session.flush()
        report.run_id = run.id

    @staticmethod
    def _progress(session: Session, report: SyncReport) -> None:
        if report.run_id is not None:
            session.execute(
                update(ExchangeRun)
                .where(ExchangeRun.id == report.run_id)
                .values(records=report.records, full=report.full)
            )

    @staticmethod
    def _record_run(session: Session, exchange: Exchange, report: SyncReport) -> None:
        totals = dict(exchange.totals or {})
        for key, value in report.counts().items():
            totals[key] = totals.get(key, 0) + value
        totals["runs"] = totals.get("runs", 0) + 1
        exchange.totals = totals
        exchange.last_run = report.to_dict() | {"finished_at": utcnow().isoformat()}
        # A sync that failed as it started rolled its row back: it gets one now.
        run = session.get(ExchangeRun, report.run_id) if report.run_id is not None else None
        if run is None:
            run = ExchangeRun(exchange_id=exchange.id)
            session.add(run)
        run.finished_at, run.ok, run.full = utcnow(), report.ok, report.full
        run.records, run.counts, run.error = report.records, report.counts(), report.error

    # Applying a batch ------------------------------------------------------------

    def _apply(
        self,
        session: Session,
        exchange_id: int,
        batch: FetchBatch,
        generation: int,
        report: SyncReport,
        held: set[int] | None,
    ) -> None:
        exchange = session.get_one(Exchange, exchange_id)
        if held is not None:  # what is left at the end is what the source lost
            held.difference_update(batch.held)
        report.unchanged += len(batch.held)
        report.skipped_records += batch.skipped_records
        report.skipped_pages += batch.skipped_pages
        for problem in batch.problems:
            report.note(problem)
        prepared = {}
        account_key = exchange.bank.account_key
        for record in batch.upserts:
            ready = self._prepare(exchange.name, record, report, account_key)
            if ready is not None:
                prepared[ready.upstream_id] = ready  # a later copy in one batch wins
        for removed in self._removed_on_appeal(session, exchange_id, prepared):
            del prepared[removed]
            report.withheld += 1
        if prepared:
            self._upsert(session, exchange, list(prepared.values()), generation, report)
        gone = set(batch.deletes) - set(prepared)
        if gone:
            report.deletes += self._delete_where(
                session,
                (BankContent.exchange_id == exchange_id)
                & any_of(session, BankContent.upstream_key, {short_hash(g) for g in gone})
                & any_of(session, BankContent.upstream_id, gone),
            )
        if batch.checkpoint is not None:
            exchange.checkpoint = batch.checkpoint.stored()

    def _prepare(
        self,
        exchange_name: str,
        record: UpstreamRecord,
        report: SyncReport,
        account_key: str | None,
    ) -> _Prepared | None:
        signals = []
        for kind, value in record.signals:
            try:
                signal_type = self.registry.signal_type(kind)
                value = signal_type.normalize(value)
                if signal_type.keyable and account_key is not None:
                    value = self.registry.account_keys.keyed(value, account_key)
                signals.append((kind, value))
            except HashingError as exc:
                report.note(f"record {record.upstream_id}: {exc.message}")
        if not signals:
            report.skipped_records += 1
            if not record.signals:
                report.note(f"record {record.upstream_id}: no signal of a supported type")
            return None
        metadata = dict(record.metadata)  # the exchange and upstream id are columns
        try:
            if metadata:
                validation.metadata(metadata)
            tags = self._tags(record.tags, record.upstream_id, report)
        except DomainError as exc:
            report.skipped_records += 1
            report.note(f"record {record.upstream_id}: {exc.message}")
            return None
        return _Prepared(
            record.upstream_id,
            tuple(sorted(set(signals))),
            tags,
            metadata,
            record.enabled,
            record.digest,
        )

    def _tags(self, raw: tuple[str, ...], upstream_id: str, report: SyncReport) -> list[str]:
        """Taxonomy-normalised, valid tags; feeds repeat a few tag sets, so they are cached."""
        cached = self._tag_cache.get(raw)
        if cached is not None:
            return list(cached)
        tags = []
        for tag in self.taxonomy.normalize_all(raw):
            try:
                tags.extend(validation.tags([tag]))
            except DomainError:
                report.note(f"record {upstream_id}: tag {tag[:60]!r} dropped")
        tags = validation.tags(tags)
        if len(self._tag_cache) < 10_000:
            self._tag_cache[raw] = tuple(tags)
        return tags

    def _upsert(
        self,
        session: Session,
        exchange: Exchange,
        records: list[_Prepared],
        generation: int,
        report: SyncReport,
    ) -> None:
        stored = self._stored(session, exchange.id, records)
        fresh, changed, restamp, redigest = [], [], [], []
        for record in records:
            known = stored.get(record.upstream_id)
            if known is None:
                fresh.append(record)
            elif not known.holds(record):
                changed.append((known.content_id, record))
            elif known.digest != record.digest:
                redigest.append({"key": known.content_id, "digest": record.digest})
            elif known.generation != generation:
                restamp.append(known.content_id)
            else:
                report.unchanged += 1
        # Unchanged, but seen by this resync: stamped, all at once where the
        # digest stays, row by row where it is new.
        table = table_of(BankContent)
        if restamp:
            session.connection().execute(
                update(table)
                .where(any_of(session, table.c.id, restamp))
                .values(sync_generation=generation, updated_at=table.c.updated_at)
            )
        if redigest:
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("key"))
                .values(
                    sync_generation=generation,
                    upstream_digest=bindparam("digest"),
                    updated_at=table.c.updated_at,
                ),
                redigest,
            )
        report.unchanged += len(restamp) + len(redigest)
        for content_id, record in changed:
            self._update(session, session.get_one(BankContent, content_id), record, generation)
        report.upserts += len(changed)
        if fresh:
            self._insert(session, exchange, fresh, generation)
            report.upserts += len(fresh)

    @staticmethod
    def _stored(session: Session, exchange_id: int, records: list[_Prepared]) -> dict[str, _Stored]:
        """What the bank already holds for these records, by upstream id, read in one query.

        Tags and metadata come back as JSON text, decoded once per distinct
        text: feeds repeat a handful of tag sets across a million items.
        """
        wanted = {r.upstream_id for r in records}
        query = (
            select(
                BankContent.upstream_id,
                BankContent.id,
                cast(BankContent.tags, Text),
                cast(BankContent.details, Text),
                BankContent.enabled,
                BankContent.sync_generation,
                BankContent.upstream_digest,
                BankSignal.signal_type,
                BankSignal.value,
            )
            .join(BankSignal, BankSignal.content_id == BankContent.id)
            .where(
                BankContent.exchange_id == exchange_id,
                any_of(session, BankContent.upstream_key, {short_hash(u) for u in wanted}),
            )
        )
        decoded: dict[str, Any] = {}

        def decode(text: str) -> Any:
            if text not in decoded:
                decoded[text] = orjson.loads(text)
            return decoded[text]

        rows: dict[str, tuple[int, str, str, bool, int | None, int | None]] = {}
        signals: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for upstream_id, *row, kind, value in session.execute(query):
            if upstream_id in wanted:  # not a digest collision
                rows[upstream_id] = tuple(row)  # type: ignore[assignment]
                signals[upstream_id].append((kind, value))
        return {
            upstream_id: _Stored(
                content_id,
                tuple(sorted(signals[upstream_id])),
                decode(tags),
                decode(details),
                enabled,
                generation,
                digest,
            )
            for upstream_id, (
                content_id,
                tags,
                details,
                enabled,
                generation,
                digest,
            ) in rows.items()
        }

    def _insert(
        self, session: Session, exchange: Exchange, records: list[_Prepared], generation: int
    ) -> None:
        """Bulk-insert new content, its signals and the runs of them the change log records.

        Ids are reserved first, so each table takes one executemany and
        nothing is read back: asking the database to return generated ids
        would cost more than the inserts themselves on SQLite.
        """
        now = utcnow()
        stamp = timestamp(session, now)
        source = f"exchange:{exchange.name}"
        bank_id = exchange.bank_id
        tag_texts: dict[tuple[str, ...], str] = {}

        def tags_text(tags: list[str]) -> str:
            key = tuple(tags)
            if key not in tag_texts:  # feeds repeat a few tag sets
                tag_texts[key] = json.dumps(tags)
            return tag_texts[key]

        content_ids = reserve_ids(session, table_of(BankContent), len(records))
        signal_ids = iter(
            reserve_ids(session, table_of(BankSignal), sum(len(r.signals) for r in records))
        )
        contents, signals, added = [], [], []
        for content_id, r in zip(content_ids, records, strict=True):
            contents.append(
                (
                    r.digest,
                    content_id,
                    bank_id,
                    r.enabled,
                    tags_text(r.tags),
                    json.dumps(r.metadata) if r.metadata else "{}",
                    source,
                    exchange.id,
                    r.upstream_id,
                    short_hash(r.upstream_id),
                    generation,
                    stamp,
                    stamp,
                )
            )
            for kind, value in r.signals:
                signal_id = next(signal_ids)
                signals.append((signal_id, content_id, bank_id, kind, value, short_hash(value)))
                if r.enabled:
                    added.append(signal_id)
        insert_rows(session, table_of(BankContent), CONTENT_COLUMNS, contents)
        insert_rows(session, table_of(BankSignal), SIGNAL_COLUMNS, signals)
        changelog.record_added(session, bank_id, added, now)

    def _update(
        self, session: Session, content: BankContent, record: _Prepared, generation: int
    ) -> None:
        """Bring existing content in line with a record that differs from it."""
        content.sync_generation = generation
        content.upstream_digest = record.digest
        current = tuple(sorted((s.signal_type, s.value) for s in content.signals))
        if current != record.signals:
            if content.enabled:
                changelog.record(session, "remove", content.signals)
            content.signals = [
                BankSignal(bank_id=content.bank_id, signal_type=kind, value=value)
                for kind, value in record.signals
            ]
            session.flush()
            if record.enabled:
                changelog.record(session, "add", content.signals)
        elif content.enabled != record.enabled:
            changelog.record(session, "add" if record.enabled else "remove", content.signals)
        content.enabled = record.enabled
        if content.tags != record.tags or content.details != record.metadata:
            content.tags = record.tags
            content.details = record.metadata
            changelog.record(session, "update", content.signals)

    @staticmethod
    def _delete_where(session: Session, condition: Any) -> int:
        """Delete matching content, logging its signals' removal; how many went.

        The ids are read once: a sweep's condition scans all of an exchange's
        content, which logging and deleting would otherwise each repeat.
        """
        doomed = list(session.scalars(select(BankContent.id).where(condition)))
        if doomed:
            log_removals(session, any_of(session, BankSignal.content_id, doomed))
            session.execute(
                delete(BankContent)
                .where(any_of(session, BankContent.id, doomed))
                .execution_options(synchronize_session=False)
            )
            session.expire_all()
        return len(doomed)

    # Exchanges as a whole ---------------------------------------------------------

    def remove(self, session: Session, exchange: Exchange, keep_content: bool = False) -> int:
        """Stop following an exchange, in the caller's transaction (so that whatever the
        caller records about it commits with it); its content goes too unless kept.
        How many items went."""
        removed = 0
        if keep_content:
            session.execute(
                update(BankContent)
                .where(BankContent.exchange_id == exchange.id)
                .values(
                    exchange_id=None,
                    upstream_id=None,
                    upstream_key=None,
                    origin_exchange=f"{exchange.type}:{exchange.name}",
                )
            )
        else:
            removed = self._delete_where(session, BankContent.exchange_id == exchange.id)
        session.delete(exchange)
        return removed
