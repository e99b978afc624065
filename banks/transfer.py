"""Bank import and export in the list formats exchanges and people use.

Accepted input, detected from the first non-blank line:

* JSON lines: `{"signal_type": ..., "value": ..., "tags": [...], "metadata": {...}}`
* CSV with a header naming at least `signal_type` and `value`; `tags` are
  separated by `;`, a `metadata` column holds a JSON object, and any other
  column is kept in the metadata under its header;
* plain lines: `<signal_type> <value>`, the value running to the end of the line
  (a keyword may be a phrase).

Export writes JSON lines (or CSV) that import reads back. A record that cannot
be used is reported with its line number and skipped; it never stops the rest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from banks import store, validation
from banks.models import Bank, BankContent, BankSignal, short_hash
from banks.spreadsheet import cell_text, safe_cell
from banks.taxonomy import Taxonomy
from core.errors import DomainError, HashingError, InvalidInput
from hashers import Registry, Signal

Format = Literal["auto", "jsonl", "csv", "lines"]
CSV_COLUMNS = ("signal_type", "value", "tags", "metadata")
IMPORT_BATCH = 1000


@dataclass(frozen=True)
class Record:
    line: int
    signal_type: str
    value: str
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: `short_hash` of the record's source text (see `parse`).
    digest: int | None = None


class Held(NamedTuple):
    """A record left unparsed because the caller already holds its digest.

    A tuple rather than a dataclass: a resync meets one per unchanged line.
    """

    line: int
    digest: int


@dataclass(frozen=True)
class RecordError:
    line: int
    message: str


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
        }


def detect_format(first_line: str) -> Format:
    stripped = first_line.lstrip("\ufeff").strip()
    if stripped.startswith("{"):
        return "jsonl"
    header = {cell.strip().lower() for cell in next(csv.reader([stripped]), [])}
    if {"signal_type", "value"} <= header:
        return "csv"
    return "lines"


def parse(
    text: Iterable[str], fmt: Format = "auto", held: Container[int] = frozenset()
) -> Iterator[Record | RecordError | Held]:
    """Records (or per-line errors) from the lines of a feed, numbered from 1.

    Each record carries a digest of its source text (the line without
    surrounding blanks, or a CSV row's cells). A record whose digest is in
    `held` is given as `Held`, unparsed: a list that changed by 1% then costs
    a resync a digest per line, not a parse and a database lookup.
    """
    lines = iter(text)
    first = next(lines, None)
    if first is None:
        return
    chosen = detect_format(first) if fmt == "auto" else fmt
    rest = _chain(first, lines)
    if chosen == "jsonl":
        yield from _parse_jsonl(rest, held)
    elif chosen == "csv":
        yield from _parse_csv(rest, held)
    else:
        yield from _parse_lines(rest, held)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first.lstrip("\ufeff")
    yield from rest


def _parse_jsonl(
    lines: Iterable[str], held: Container[int]
) -> Iterator[Record | RecordError | Held]:
    for number, line in enumerate(lines, start=1):
        source = line.strip()
        if not source:
            continue
        digest = short_hash(source)
        if digest in held:
            yield Held(number, digest)
            continue
        try:
            item = orjson.loads(source)
            if not isinstance(item, dict):
                raise InvalidInput("expected a JSON object")
            yield Record(
                line=number,
                signal_type=_required_text(item, "signal_type"),
                value=_required_text(item, "value"),
                tags=validation.tags(item.get("tags")),
                metadata=validation.metadata(item.get("metadata")),
                digest=digest,
            )
        except ValueError:
            yield RecordError(number, "not valid JSON")
        except DomainError as exc:
            yield RecordError(number, exc.message)


def _parse_csv(lines: Iterable[str], held: Container[int]) -> Iterator[Record | RecordError | Held]:
    reader = csv.DictReader(lines)
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    for raw in reader:
        row = {k: cell_text(v) if isinstance(v, str) else v for k, v in raw.items()}
        number = reader.line_num
        digest = short_hash("\x1f".join(map(str, row.values())))
        if digest in held:
            yield Held(number, digest)
            continue
        try:
            extra = {
                key: value
                for key, value in row.items()
                if key not in CSV_COLUMNS and key is not None and value not in (None, "")
            }
            metadata = {**extra, **validation.metadata_text(row.get("metadata"))}
            yield Record(
                line=number,
                signal_type=_required_text(row, "signal_type"),
                value=_required_text(row, "value"),
                tags=validation.split_tags(row.get("tags"), ";"),
                metadata=validation.metadata(metadata),
                digest=digest,
            )
        except DomainError as exc:
            yield RecordError(number, exc.message)


def _parse_lines(
    lines: Iterable[str], held: Container[int]
) -> Iterator[Record | RecordError | Held]:
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        digest = short_hash(stripped)
        if digest in held:
            yield Held(number, digest)
            continue
        parts = stripped.split(None, 1)
        if len(parts) != 2:
            yield RecordError(number, "expected '<signal_type> <value>'")
            continue
        yield Record(line=number, signal_type=parts[0], value=parts[1], digest=digest)


def _required_text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"missing {key}")
    return value.strip()


def import_records(
    session: Session,
    registry: Registry,
    bank: Bank,
    records: Iterable[Record | RecordError],
    *,
    source: str = "import",
    taxonomy: Taxonomy | None = None,
) -> ImportReport:
    """Add each valid record as one piece of content; skip signals the bank already has.

    Tags are normalised to the taxonomy; a record a published bank cannot
    share (no primary tag) is reported and skipped.
    """
    report = ImportReport()
    batch: list[tuple[Record, Signal]] = []
    for record in records:
        if isinstance(record, RecordError):
            report.errors.append(record)
            continue
        try:
            signal = registry.parse(record.signal_type, record.value)
        except HashingError as exc:
            report.errors.append(RecordError(record.line, exc.message))
            continue
        batch.append((record, signal))
        if len(batch) >= IMPORT_BATCH:
            _add_batch(session, registry, bank, batch, report, source, taxonomy)
            batch = []
    _add_batch(session, registry, bank, batch, report, source, taxonomy)
    return report


def _add_batch(
    session: Session,
    registry: Registry,
    bank: Bank,
    batch: Sequence[tuple[Record, Signal]],
    report: ImportReport,
    source: str,
    taxonomy: Taxonomy | None,
) -> None:
    if not batch:
        return
    held = select(BankSignal.signal_type, BankSignal.value).where(
        BankSignal.bank_id == bank.id,
        BankSignal.value_hash.in_({short_hash(signal.value) for _, signal in batch}),
    )
    present = {(kind, value) for kind, value in session.execute(held)}
    for record, signal in batch:
        key = (signal.type, signal.value)
        if key in present:
            report.duplicates += 1
            continue
        try:
            store.add_content(
                session,
                bank,
                [signal],
                tags=record.tags,
                metadata=record.metadata,
                source=source,
                taxonomy=taxonomy,
                keys=registry.account_keys,
            )
        except DomainError as exc:
            report.errors.append(RecordError(record.line, exc.message))
            continue
        present.add(key)
        report.added += 1


def export_records(session: Session, bank: Bank) -> Iterator[dict[str, Any]]:
    """One dict per bank signal, in content order, in the JSON-lines shape import reads."""
    query = (
        select(BankSignal, BankContent)
        .join(BankContent, BankSignal.content_id == BankContent.id)
        .where(BankSignal.bank_id == bank.id)
        .order_by(BankSignal.content_id, BankSignal.id)
        .execution_options(yield_per=5000)
    )
    for signal, content in session.execute(query):
        yield {
            "signal_type": signal.signal_type,
            "value": signal.value,
            "tags": list(content.tags),
            "metadata": dict(content.details),
            "content_id": content.id,
            "enabled": content.enabled,
        }


def to_jsonl(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=False, separators=(",", ":"))


def to_csv_rows(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, header first, in the columns import reads."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        metadata = json.dumps(record["metadata"]) if record["metadata"] else ""
        cells = [record["signal_type"], record["value"], ";".join(record["tags"]), metadata]
        writer.writerow([safe_cell(cell) for cell in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
