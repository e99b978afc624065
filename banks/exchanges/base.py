"""What every exchange adapter provides, and the records it hands the sync engine.

An adapter knows one exchange's wire format and nothing about the database.
`fetch(checkpoint)` yields batches of upserts and deletes, each with the
checkpoint that resumes *after* it (or None where resuming there would not be
safe, as in the middle of an NCMEC time window). The engine commits each
batch's data and checkpoint in one transaction, so a sync killed at any moment
resumes without losing or duplicating anything.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from banks.exchanges.http import HttpClient
from core.errors import FeedbackUnsupported, InvalidInput
from core.typed import StrictModel, describe

log = logging.getLogger(__name__)


class Checkpoint(BaseModel):
    """Where a sync resumes; each adapter's subclass says what it holds.

    Stored as JSON with the exchange. A stored checkpoint that no longer
    parses (an older format, a hand edit) is treated as none: the next sync
    reads everything, which is always safe.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    #: Seconds after which resuming could miss deletions, because the exchange
    #: keeps them no longer (None: never).
    stale_after: ClassVar[float | None] = None

    #: When the checkpoint was written (seconds since the epoch).
    last_fetch: float = Field(default_factory=time.time)

    def is_stale(self, now: float) -> bool:
        """Whether resuming from here could miss deletions (then: a full resync)."""
        return self.stale_after is not None and now - self.last_fetch > self.stale_after

    def age(self, now: float) -> float | None:
        """Seconds between the exchange's present and this point, where it can tell."""
        return None

    @classmethod
    def read(cls, stored: Mapping[str, Any] | None) -> Self | None:
        """A stored checkpoint, or None when there is none or it no longer parses."""
        if stored is None:
            return None
        try:
            return cls.model_validate(dict(stored))
        except ValidationError as exc:
            log.warning("a stored %s no longer parses; syncing everything: %s", cls.__name__, exc)
            return None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class UpstreamRecord:
    """One item as the exchange describes it: an id there, its signals, what is said of it."""

    upstream_id: str
    #: (signal type, value) pairs; values are normalised by the engine.
    signals: tuple[tuple[str, str], ...]
    tags: tuple[str, ...] = ()
    #: Opinions, source, severity and whatever else the exchange says (kept as metadata).
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: False when the exchange's own opinions say this is not abusive content.
    enabled: bool = True
    #: A digest of the record's source text, where the adapter takes one (see
    #: `ExchangeAdapter.fetch_changed`).
    digest: int | None = None


@dataclass
class FetchBatch:
    upserts: list[UpstreamRecord] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    #: Where to resume after this batch; None: not safe to resume here.
    checkpoint: Checkpoint | None = None
    #: Records or pages the adapter could not use, and why (counted and logged).
    skipped_records: int = 0
    skipped_pages: int = 0
    problems: list[str] = field(default_factory=list)
    #: Digests of records still upstream that were skipped as already held.
    held: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackItem:
    """A reviewer's verdict on content that came from this exchange."""

    upstream_id: str
    #: "positive": confirmed abusive; "negative": rejected as a false positive.
    verdict: str
    signals: tuple[tuple[str, str], ...]
    metadata: Mapping[str, Any]


class AdapterConfig(StrictModel):
    """Base for adapter settings: parsed from `--config KEY=VALUE` strings or JSON as the
    deployment's settings are (`core.typed`), ranges and all."""

    #: What the settings configure, and the error code of settings that do not parse.
    configures: ClassVar[str] = "exchange"
    error_code: ClassVar[str] = "invalid_exchange_config"

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Self:
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            allowed = ", ".join(cls.model_fields) or "none"
            raise InvalidInput(
                f"{describe(exc)} (this {cls.configures} takes {allowed})", code=cls.error_code
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class ExchangeAdapter(ABC):
    """One exchange's wire format.

    Raise `core.errors.ExchangeError` when the exchange cannot be
    used at all (unreachable, credentials refused); report unusable records
    and pages in the batches instead, so that one bad page never stops a sync.
    """

    #: The name used by `hma exchange add --type`.
    type_name: ClassVar[str]
    config_type: ClassVar[type[AdapterConfig]] = AdapterConfig
    checkpoint_type: ClassVar[type[Checkpoint]] = Checkpoint
    #: Where the exchange lives unless `--url` says otherwise (None: --url is required).
    default_base_url: ClassVar[str | None] = None
    #: Whether the exchange needs credentials.
    needs_credentials: ClassVar[bool] = True
    #: Whether its address may be a local file (from the import folder only).
    reads_local_files: ClassVar[bool] = False
    #: Whether records carry digests of their source text, so that a full
    #: resync can skip what the bank holds (`fetch_changed`).
    digests_records: ClassVar[bool] = False

    def __init__(
        self, config: AdapterConfig, credentials: str | None, base_url: str, http: HttpClient
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.http = http

    @abstractmethod
    def fetch(self, checkpoint: Checkpoint | None) -> Iterator[FetchBatch]:
        """Batches after `checkpoint` (None: everything), until the exchange has no more."""

    def fetch_changed(
        self, checkpoint: Checkpoint | None, held: Container[int]
    ) -> Iterator[FetchBatch]:
        """`fetch`, skipping records whose digest is in `held` (what the bank holds).

        Skipped records are listed in their batch's `held`, so that a full
        resync still knows they are there. Adapters whose records carry no
        digest read everything.
        """
        return self.fetch(checkpoint)

    def always_full(self) -> bool:
        """Whether every fetch reads everything (lists), so deletions are found by absence."""
        return False

    def has_changed(self, checkpoint: Checkpoint | None) -> bool:
        """For always-full exchanges: whether the source differs from what `checkpoint` saw."""
        return True

    def send_feedback(self, items: Sequence[FeedbackItem]) -> None:
        """Deliver feedback; raise ExchangeError to have it retried later."""
        raise FeedbackUnsupported(f"{self.type_name} exchanges take no feedback")

    def checkpoint_age(self, stored: Mapping[str, Any] | None) -> float | None:
        """Seconds between the exchange's present and its stored checkpoint, where it can tell."""
        checkpoint = self.checkpoint_type.read(stored)
        return None if checkpoint is None else checkpoint.age(time.time())
