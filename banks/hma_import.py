"""Moving banks over from a Meta HMA deployment: read its tables, write our banks.

HMA keeps banks in PostgreSQL (`bank`, `bank_content`, `content_signal`,
`exchange`). We read them either straight from that database (read only)
or from CSV dumps of those tables (`\\copy <table> TO '<table>.csv' CSV
HEADER`, one file per table in a folder), for operators who would rather
not open their HMA database to another host.

What carries over: bank names and matching ratios; each item's signals (HMA's
`pdq` and `video_md5`; other types are counted and left out), its metadata,
note and disabled state. Content HMA fetched from an exchange is left out
unless asked for: followed here, the exchange brings it again with its
provenance, which a copy would lack. HMA's content ids become new ids here;
the import reports the pairs.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from banks import store, validation
from banks.hma_vocabulary import SIGNAL_TYPES, parse_disable_until
from banks.models import Bank
from banks.taxonomy import Taxonomy
from core.errors import HashingError, InvalidInput
from hashers import Registry, Signal

#: The tables an import reads.
TABLES = ("bank", "bank_content", "content_signal", "exchange")


@dataclass(frozen=True)
class HmaBank:
    name: str
    ratio: float
    #: The exchange that fills it, if any.
    exchange: str | None


@dataclass(frozen=True)
class HmaItem:
    id: int
    signals: tuple[tuple[str, str], ...]
    disable_until_ts: int
    metadata: dict[str, Any] | None
    note: str | None
    from_exchange: bool


@dataclass(frozen=True)
class HmaExchange:
    name: str
    api: str
    enabled: bool
    config: dict[str, Any]


class HmaSource(Protocol):
    def banks(self) -> list[HmaBank]: ...

    def items(self, bank: str) -> Iterator[HmaItem]: ...

    def count(self, bank: str) -> int: ...

    def exchanges(self) -> list[HmaExchange]: ...


class HmaDatabase:
    """HMA's own PostgreSQL database, read only."""

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        self.engine = create_engine(url, execution_options={"postgresql_readonly": True})

    def banks(self) -> list[HmaBank]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT b.name, b.enabled_ratio, e.name FROM bank b"
                    " LEFT JOIN exchange e ON e.id = b.import_from_exchange_id ORDER BY b.id"
                )
            )
            return [HmaBank(name, float(ratio), exchange) for name, ratio, exchange in rows]

    def count(self, bank: str) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM bank_content c JOIN bank b ON b.id = c.bank_id"
                        " WHERE b.name = :bank"
                    ),
                    {"bank": bank},
                ).scalar_one()
            )

    def items(self, bank: str) -> Iterator[HmaItem]:
        query = text(
            "SELECT c.id, c.disable_until_ts, c.bank_content_metadata, c.note,"
            " c.imported_from_id IS NOT NULL, s.signal_type, s.signal_val"
            " FROM bank_content c JOIN bank b ON b.id = c.bank_id"
            " LEFT JOIN content_signal s ON s.content_id = c.id"
            " WHERE b.name = :bank ORDER BY c.id"
        )
        with self.engine.connect() as connection:
            rows = connection.execution_options(stream_results=True, yield_per=5000).execute(
                query, {"bank": bank}
            )
            yield from _items(tuple(row) for row in rows)

    def exchanges(self) -> list[HmaExchange]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, api_cls, fetching_enabled, typed_config FROM exchange")
            )
            return [
                HmaExchange(name, api, bool(enabled), _json(config) or {})
                for name, api, enabled, config in rows
            ]


class HmaDump:
    """CSV dumps of HMA's tables in a folder (`bank.csv`, `bank_content.csv`,
    `content_signal.csv`, and `exchange.csv` if it has exchanges)."""

    def __init__(self, folder: Path) -> None:
        missing = [t for t in TABLES[:3] if not (folder / f"{t}.csv").is_file()]
        if missing:
            raise InvalidInput(
                f"{folder} lacks {', '.join(m + '.csv' for m in missing)}: dump each table"
                " with \\copy <table> TO '<table>.csv' CSV HEADER",
                code="invalid_hma_dump",
            )
        self.folder = folder

    def _rows(self, table: str) -> Iterator[dict[str, str]]:
        path = self.folder / f"{table}.csv"
        if not path.is_file():
            return
        with open(path, newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)

    def banks(self) -> list[HmaBank]:
        exchanges = {row["id"]: row["name"] for row in self._rows("exchange")}
        return [
            HmaBank(
                row["name"],
                float(row["enabled_ratio"]),
                exchanges.get(row.get("import_from_exchange_id") or ""),
            )
            for row in self._rows("bank")
        ]

    def _bank_id(self, bank: str) -> str:
        return next(row["id"] for row in self._rows("bank") if row["name"] == bank)

    def count(self, bank: str) -> int:
        bank_id = self._bank_id(bank)
        return sum(1 for row in self._rows("bank_content") if row["bank_id"] == bank_id)

    def items(self, bank: str) -> Iterator[HmaItem]:
        bank_id = self._bank_id(bank)
        content = {
            row["id"]: row for row in self._rows("bank_content") if row["bank_id"] == bank_id
        }
        signals: dict[str, list[tuple[str, str]]] = {}
        for row in self._rows("content_signal"):
            if row["content_id"] in content:
                signals.setdefault(row["content_id"], []).append(
                    (row["signal_type"], row["signal_val"])
                )
        rows: list[tuple[Any, ...]] = []
        for key in sorted(content, key=int):
            row = content[key]
            head = (
                int(key),
                int(row["disable_until_ts"] or 1),
                _json(row.get("bank_content_metadata")),
                row.get("note") or None,
                bool(row.get("imported_from_id")),
            )
            rows.extend((*head, kind, value) for kind, value in signals.get(key, [(None, None)]))
        yield from _items(rows)

    def exchanges(self) -> list[HmaExchange]:
        return [
            HmaExchange(
                row["name"],
                row["api_cls"],
                row.get("fetching_enabled", "t").lower() in ("t", "true", "1"),
                _json(row.get("typed_config")) or {},
            )
            for row in self._rows("exchange")
        ]


def _items(rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]]) -> Iterator[HmaItem]:
    """Rows of (id, disable_until_ts, metadata, note, from exchange, type, value), one per
    signal, in id order, as items."""
    for content_id, group in groupby(rows, key=lambda row: row[0]):
        grouped = list(group)
        first = grouped[0]
        yield HmaItem(
            id=int(content_id),
            signals=tuple((row[5], row[6]) for row in grouped if row[5] is not None),
            disable_until_ts=int(first[1]),
            metadata=_json(first[2]),
            note=first[3],
            from_exchange=bool(first[4]),
        )


def _json(value: Any) -> Any:
    if value is None or value == "":
        return None
    return json.loads(value) if isinstance(value, str) else value


def open_source(location: str) -> HmaSource:
    """HMA's database (a `postgresql://` URL) or a folder of its table dumps."""
    if location.startswith(("postgresql://", "postgresql+psycopg://")):
        return HmaDatabase(location)
    folder = Path(location)
    if not folder.is_dir():
        raise InvalidInput(
            f"{location} is neither a postgresql:// URL nor a folder of table dumps",
            code="invalid_hma_source",
        )
    return HmaDump(folder)


@dataclass
class BankImport:
    """What one bank's import did."""

    bank: str
    added: int = 0
    disabled: int = 0
    exchange_items: int = 0
    #: Signals left out, by HMA's signal type (types we do not match, or bad values).
    left_out: dict[str, int] = field(default_factory=dict)
    #: Items left out entirely, and why.
    problems: list[str] = field(default_factory=list)
    #: (HMA's content id, ours)
    ids: list[tuple[int, int]] = field(default_factory=list)
    ratio_clamped: bool = False


def write_bank(
    session: Session,
    source: HmaBank,
    items: Iterator[HmaItem],
    registry: Registry,
    taxonomy: Taxonomy,
    *,
    with_exchange_content: bool = False,
    progress: Any = None,
) -> BankImport:
    """Create `source` here and add its items; the caller commits (all or nothing)."""
    report = BankImport(source.name)
    ratio = min(1.0, max(0.0, source.ratio))
    report.ratio_clamped = ratio != source.ratio
    bank = store.create_bank(session, source.name, matching_ratio=ratio)
    now = time.time()
    for item in items:
        if progress is not None:
            progress(1)
        if item.from_exchange and not with_exchange_content:
            report.exchange_items += 1
            continue
        origin = f"hma:{source.exchange or 'exchange'}" if item.from_exchange else None
        content_id = _write_item(session, bank, item, registry, taxonomy, now, report, origin)
        if content_id is not None:
            report.ids.append((item.id, content_id))
    return report


def _write_item(
    session: Session,
    bank: Bank,
    item: HmaItem,
    registry: Registry,
    taxonomy: Taxonomy,
    now: float,
    report: BankImport,
    origin_exchange: str | None,
) -> int | None:
    signals: list[Signal] = []
    for kind, value in item.signals:
        ours = SIGNAL_TYPES.get(kind)
        try:
            if ours is not None:
                signals.append(registry.parse(ours, value))
                continue
        except HashingError:
            pass
        report.left_out[kind] = report.left_out.get(kind, 0) + 1
    if not signals:
        report.problems.append(f"content {item.id}: no signal we can match")
        return None
    try:
        metadata = validation.metadata(item.metadata)
        note = validation.note(item.note)
        enabled, until = parse_disable_until(item.disable_until_ts, now)
    except (InvalidInput, ValueError) as exc:
        report.problems.append(f"content {item.id}: {exc}")
        return None
    content = store.add_content(
        session,
        bank,
        signals,
        metadata=metadata,
        source=f"hma:{item.id}",
        taxonomy=taxonomy,
        note=note,
        origin_exchange=origin_exchange,
        keys=registry.account_keys,
    )
    if not enabled:
        store.update_content(session, content, enabled=False, disabled_until=until)
        report.disabled += 1
    report.added += 1
    return content.id
