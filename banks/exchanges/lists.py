"""Plain lists: a file or URL of lines, CSV or JSON lines (see banks.transfer).

Lists have no change feed: every sync reads the whole list, and what is no
longer in it is removed (the engine's full-resync sweep). A sync whose list
is byte-for-byte what the last completed sync read does nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from banks import transfer
from banks.errors import InvalidInput
from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FetchBatch,
    UpstreamRecord,
)
from banks.exchanges.errors import ExchangeError


@dataclass(frozen=True)
class ListConfig(AdapterConfig):
    format: str = "auto"
    batch_size: int = 10_000

    def validate(self) -> None:
        if self.format not in ("auto", "jsonl", "csv", "lines"):
            raise InvalidInput(
                "format must be auto, jsonl, csv or lines", code="invalid_exchange_config"
            )
        if self.batch_size < 1:
            raise InvalidInput("batch_size must be positive", code="invalid_exchange_config")


class ListAdapter(ExchangeAdapter):
    type_name = "list"
    config_type = ListConfig
    needs_credentials = False
    config: ListConfig

    _data: bytes | None = None

    def _read(self) -> bytes:
        """The list's bytes (read once per sync). A URL may take a bearer token as credentials."""
        if self._data is None:
            scheme = urlsplit(self.base_url).scheme
            if scheme in ("http", "https"):
                token = self.credentials
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                self._data = self.http.request("GET", self.base_url, headers=headers).body
            else:
                path = Path(self.base_url.removeprefix("file://"))
                try:
                    self._data = path.read_bytes()
                except OSError as exc:
                    raise ExchangeError(f"cannot read the list {path}: {exc.strerror}") from None
        return self._data

    def always_full(self) -> bool:
        return True

    def has_changed(self, checkpoint: Checkpoint | None) -> bool:
        return checkpoint is None or checkpoint.get("sha256") != self._digest()

    def _digest(self) -> str:
        return hashlib.sha256(self._read()).hexdigest()

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        text = self._read().decode("utf-8-sig", errors="replace")
        batch = FetchBatch()
        count = 0
        for item in transfer.parse(text.splitlines(), self.config.format):  # type: ignore[arg-type]
            if isinstance(item, transfer.RecordError):
                batch.skipped_records += 1
                batch.problems.append(f"line {item.line}: {item.message}")
                continue
            value = item.value.strip()
            batch.upserts.append(
                UpstreamRecord(
                    upstream_id=f"{item.signal_type}:{value.lower()}",
                    signals=((item.signal_type, value),),
                    tags=tuple(item.tags),
                    metadata=dict(item.metadata),
                )
            )
            count += 1
            if len(batch.upserts) >= self.config.batch_size:
                yield batch
                batch = FetchBatch()
        batch.checkpoint = {"sha256": self._digest(), "records": count}
        yield batch
