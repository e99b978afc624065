"""Plain lists: a file or URL of lines, CSV or JSON lines (see banks.transfer).

Lists have no change feed: every sync reads the whole list, and what is no
longer in it is removed (the engine's full-resync sweep). A sync whose list
is byte-for-byte what the last completed sync read does nothing; otherwise
each line is digested, and only lines the bank does not already hold are
parsed and applied.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Container, Iterable, Iterator
from typing import Literal

from pydantic import Field

from banks import transfer
from banks.egress import is_local
from banks.exchanges.base import (
    AdapterConfig,
    Checkpoint,
    ExchangeAdapter,
    FetchBatch,
    UpstreamRecord,
)
from core.errors import EgressRefused, ExchangeError, HashingError
from hashers.registry import BUILT_IN_TYPES


class ListConfig(AdapterConfig):
    format: Literal["auto", "jsonl", "csv", "lines"] = Field(
        "auto", description="How the list is written (auto: guessed from its first line)."
    )
    batch_size: int = Field(
        50_000,
        ge=1,
        description="Records written per transaction: larger batches amortise each commit.",
    )
    max_bytes: int = Field(
        4 * 1024**3,
        ge=1,
        le=64 * 1024**3,
        description="Largest list downloaded from a URL, in bytes (the sync fails above it).",
    )


class ListCheckpoint(Checkpoint):
    """The list as last read: its digest, to tell whether it changed since."""

    sha256: str
    records: int = 0


class ListAdapter(ExchangeAdapter):
    type_name = "list"
    config_type = ListConfig
    checkpoint_type = ListCheckpoint
    needs_credentials = False
    reads_local_files = True
    digests_records = True
    config: ListConfig

    _body: bytes | None = None
    _sha256: str | None = None

    def _open(self) -> io.BufferedReader | io.BytesIO:
        """The list as a stream of bytes: a local file (only from the import folder)
        is read as it goes, a URL's body is downloaded once per sync. A URL may take
        a bearer token as credentials."""
        if is_local(self.base_url):
            try:
                path = self.http.egress.policy.local_file(self.base_url)
                return path.open("rb")
            except EgressRefused as exc:
                raise ExchangeError(str(exc)) from None
            except OSError as exc:
                raise ExchangeError(f"cannot read the list {path}: {exc.strerror}") from None
        if self._body is None:
            token = self.credentials
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._body = self.http.request(
                "GET", self.base_url, headers=headers, max_bytes=self.config.max_bytes
            ).body
        return io.BytesIO(self._body)

    def always_full(self) -> bool:
        return True

    def has_changed(self, checkpoint: Checkpoint | None) -> bool:
        return not isinstance(checkpoint, ListCheckpoint) or checkpoint.sha256 != self._digest()

    def _digest(self) -> str:
        """The list's SHA-256, taken once per sync, before its records are read.

        A list rewritten while a sync reads it then differs from the digest
        the sync records, and the next sync reads it again.
        """
        if self._sha256 is None:
            with self._open() as stream:
                self._sha256 = hashlib.file_digest(stream, "sha256").hexdigest()
        return self._sha256

    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        return self.fetch_changed(checkpoint, frozenset())

    def fetch_changed(
        self, checkpoint: Checkpoint | None, held: Container[int]
    ) -> Iterator[FetchBatch]:
        digest = self._digest()
        with self._open() as stream:
            lines = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")
            yield from self._batches(lines, digest, held)

    def _batches(
        self, lines: Iterable[str], digest: str, held: Container[int]
    ) -> Iterator[FetchBatch]:
        batch = FetchBatch()
        count = 0
        for item in transfer.parse(lines, self.config.format, held):
            if isinstance(item, transfer.Held):
                batch.held.append(item.digest)
                count += 1
                continue
            if isinstance(item, transfer.RecordError):
                batch.skipped_records += 1
                batch.problems.append(f"line {item.line}: {item.message}")
                continue
            value = item.value.strip()
            batch.upserts.append(
                UpstreamRecord(
                    upstream_id=_upstream_id(item.signal_type, value),
                    signals=((item.signal_type, value),),
                    tags=tuple(item.tags),
                    metadata=dict(item.metadata),
                    digest=item.digest,
                )
            )
            count += 1
            if len(batch.upserts) >= self.config.batch_size:
                yield batch
                batch = FetchBatch()
        batch.checkpoint = ListCheckpoint(sha256=digest, records=count)
        yield batch


def _upstream_id(signal_type: str, value: str) -> str:
    """A list line's id: its value as the built-in type spells it, so that two spellings
    of one URL or account are one record, while two URLs differing only in the case of
    their path stay two. Other types keep the case-blind id lists have always had."""
    known = BUILT_IN_TYPES.get(signal_type)
    if known is not None:
        try:
            return f"{signal_type}:{known.normalize(value)}"
        except HashingError:
            pass  # the engine reports the value as it skips the record
    return f"{signal_type}:{value.lower()}"
