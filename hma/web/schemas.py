"""The shapes of /api/v1: what each route takes and what it answers.

Requests are pydantic models: `hma.web.typed.endpoint` validates every body,
form and query string with them before a view runs. Responses are typed
dictionaries: the views build them (mypy checks each key), they cost nothing
at run time, and pydantic turns them into the OpenAPI schemas that
`/api/v1/openapi.json` publishes. A test validates real responses of every
route against that document, so the code and the description cannot drift.

A field's `error_code` is the `error.code` a caller gets when that field is
wrong; fields without one answer `invalid_field`.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from actioners.queue import StatusFilter
from actioners.review import RejectReason
from banks import validation
from banks.exchange_admin import MIN_INTERVAL
from core.names import CaseStatus, DecisionState, DeliveryStatus, Verdict
from hashers.accounts import KEY_NAME

JsonObject = dict[str, Any]


def coded(code: str, **rules: Any) -> Any:
    """A field whose problems answer `code` (see `hma.web.typed`)."""
    return Field(json_schema_extra={"x-error-code": code}, **rules)


class Request(BaseModel):
    """Unknown fields are ignored, as they always were; types are not coerced."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Query(BaseModel):
    """Query strings are text: numbers in them are parsed."""

    model_config = ConfigDict(extra="ignore")


# Errors ------------------------------------------------------------------------------


class ErrorDetail(TypedDict):
    code: str
    message: str


class ErrorBody(TypedDict):
    """Every error: a stable `code` for programs and a `message` for people."""

    error: ErrorDetail


# Signals, hashing and matching -------------------------------------------------------


class SignalIn(Request):
    type: str = coded("invalid_signals", description="A signal type, such as pdq or md5.")
    value: Any = coded("invalid_signals", description="The value, as the type spells it.")


class Frame(TypedDict):
    frame_number: int
    quality: int
    pdq: str
    timestamp: float


class Signal(TypedDict):
    type: str
    value: str
    quality: NotRequired[int]
    usable: NotRequired[bool]
    #: A video's frame hashes (vpdq).
    frames: NotRequired[list[Frame]]
    #: PDQ's rotations and flips, by name, when `pdq_dihedral` is on.
    variants: NotRequired[dict[str, str]]


class AccountIn(Request):
    type: str = coded(
        "invalid_account_type", description="`email`, `username`, `phone` or `payment`."
    )
    value: str = coded(
        "invalid_account",
        description="The identifier: an address, `platform:name`, E.164, `provider:handle`.",
    )


class ContentBody(Request):
    """JSON in place of an upload: media to fetch, or signals already computed, and
    a post's text, links and accounts beside or instead of them."""

    url: str | None = coded(
        "url_not_allowed", default=None, description="Media to fetch and hash (http or https)."
    )
    signals: list[SignalIn] | None = coded(
        "invalid_signals", default=None, min_length=1, description="Signals to look up."
    )
    content_ref: str | None = coded(
        "invalid_content_ref", default=None, description="The platform's id for the upload."
    )
    metadata: JsonObject | None = coded(
        "invalid_metadata", default=None, description="The platform's facts about the upload."
    )
    text: str | None = coded(
        "invalid_text",
        default=None,
        description="A post's text: searched for keywords, and for links (defanged ones too).",
    )
    urls: list[str] | None = coded(
        "invalid_url", default=None, max_length=1000, description="Links to look up."
    )
    accounts: list[AccountIn] | None = coded(
        "invalid_account", default=None, max_length=100, description="Accounts to look up."
    )


class UploadForm(Request):
    """A multipart upload: the media in `file`, and text fields beside it."""

    model_config = ConfigDict(extra="ignore", strict=False)

    file: bytes = Field(json_schema_extra={"format": "binary"}, description="The media.")
    content_ref: str | None = coded("invalid_content_ref", default=None)
    metadata: str | None = coded(
        "invalid_metadata", default=None, description="A JSON object, as text."
    )
    tags: str | None = coded(
        "invalid_tags", default=None, description="Comma-separated tags (bank content only)."
    )
    text: str | None = coded(
        "invalid_text", default=None, description="The post's text (matching and scanning)."
    )


class HashResult(TypedDict):
    signals: list[Signal]


class Match(TypedDict):
    bank: str
    content_id: int
    signal_type: str
    signal: str
    distance: int
    tags: list[str]
    variant: NotRequired[str]
    #: URL and domain matches: the expression or parent domain the bank value
    #: equalled, and the queried value it was drawn from.
    expression: NotRequired[str]
    query_signal: NotRequired[str]
    #: Keyword matches: the keyword as found in the folded text.
    found: NotRequired[str]
    query_match_percent: NotRequired[float]
    bank_match_percent: NotRequired[float]


class MatchResult(TypedDict):
    signals: list[Signal]
    matches: list[Match]


class ScanResult(MatchResult):
    #: The case the matches opened or joined; null when nothing matched.
    case_id: int | None


# Banks and their content -------------------------------------------------------------


#: A bank's or exchange's name, as `banks.validation` checks it.
NAME_PATTERN = f"^{validation.NAME.pattern}$"
ACCOUNT_KEY_PATTERN = f"^{KEY_NAME}$"


def account_key_field() -> Any:
    return coded(
        "invalid_account_key",
        default=None,
        pattern=ACCOUNT_KEY_PATTERN,
        description=(
            "Keep accounts as keyed hashes under this key of the `account_keys` setting; "
            "once it holds keyed accounts, a bank keeps its key."
        ),
    )


class BankCreate(Request):
    name: str = coded(
        "invalid_bank_name",
        pattern=NAME_PATTERN,
        description=(
            "1 to 255 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`."
        ),
    )
    description: str | None = None
    enabled: bool | None = None
    account_key: str | None = account_key_field()


class BankChange(Request):
    name: str | None = coded("invalid_bank_name", default=None, pattern=NAME_PATTERN)
    description: str | None = None
    enabled: bool | None = None
    pdq_threshold: int | None = coded(
        "invalid_threshold",
        default=None,
        ge=0,
        le=validation.MAX_PDQ_THRESHOLD,
        description="The bank's PDQ match distance; null: the deployment's.",
    )
    thresholds: dict[str, int | None] | None = Field(
        default=None,
        description=(
            "The bank's match distance by Hamming signal type (`{\"phash\": 8}`); a type's"
            ' null: the deployment\'s. `pdq_threshold` is the same as `{"pdq": ...}`.'
        ),
    )
    published: bool | None = None
    trust: int | None = coded(
        "invalid_trust",
        default=None,
        ge=0,
        le=validation.MAX_TRUST,
        description="Priority points its matches earn for the trust put in its source.",
    )
    reshare: bool | None = None
    account_key: str | None = account_key_field()


class Bank(TypedDict):
    name: str
    description: str
    enabled: bool
    pdq_threshold: int | None
    #: Every threshold the bank sets, by signal type.
    thresholds: dict[str, int]
    published: bool
    reshare: bool
    trust: int
    account_key: str | None
    content_count: int
    created_at: str
    updated_at: str


class BankList(TypedDict):
    banks: list[Bank]


class StoredSignal(TypedDict):
    type: str
    value: str
    quality: NotRequired[int]


class Content(TypedDict):
    id: int
    bank: str
    enabled: bool
    tags: list[str]
    metadata: JsonObject
    source: str
    signals: list[StoredSignal]
    created_at: str
    updated_at: str


class SkippedSignal(Signal):
    reason: str


class AddedContent(Content):
    skipped_signals: list[SkippedSignal]


class ContentPage(TypedDict):
    content: list[Content]
    #: Pass as `after` for the next page; null on the last.
    next_after: int | None


class ContentQuery(Query):
    after: int = coded("invalid_paging", default=0, ge=0)
    limit: int = coded("invalid_paging", default=100, ge=1, le=1000)


class ContentAdd(Request):
    signals: list[SignalIn] = coded("invalid_signals", min_length=1)
    tags: Any = coded("invalid_tags", default=None, description="A list of tags.")
    metadata: Any = coded("invalid_metadata", default=None, description="A JSON object.")


class ContentChange(Request):
    enabled: bool | None = None
    tags: Any = coded("invalid_tags", default=None, description="A list of tags.")
    metadata: Any = coded("invalid_metadata", default=None, description="A JSON object.")


class AppealRemoval(Request):
    reason: Any = coded("invalid_reason", description="Why the appeal found it is not abuse.")


class AppealRemoved(TypedDict):
    removed: int
    exchange_told: bool


# Exchanges ---------------------------------------------------------------------------


class ExchangeCreate(Request):
    name: str = coded("invalid_exchange_name", pattern=NAME_PATTERN)
    type: str = coded("unknown_exchange_type", description="An installed adapter's name.")
    bank: str = coded("bank_not_found", description="The bank the exchange fills.")
    url: str | None = None
    interval_seconds: int | None = coded(
        "invalid_interval", default=None, ge=MIN_INTERVAL, description="Seconds between syncs."
    )
    settings: JsonObject | None = coded("invalid_exchange_config", default=None)
    credentials: str | None = Field(default=None, description="Write-only.")
    enabled: bool | None = None
    feedback_enabled: bool | None = None


class ExchangeChange(Request):
    url: str | None = None
    interval_seconds: int | None = coded("invalid_interval", default=None, ge=MIN_INTERVAL)
    settings: JsonObject | None = coded("invalid_exchange_config", default=None)
    credentials: str | None = Field(default=None, description="Write-only.")
    enabled: bool | None = None
    feedback_enabled: bool | None = None


class SyncRequest(Request):
    full: bool | None = Field(default=None, description="Read everything again.")


class ExchangeRemoval(Query):
    keep_content: Literal["true", "false"] = "false"


class ExchangeStatus(TypedDict):
    name: str
    type: str
    bank: str
    url: str | None
    interval_seconds: int
    settings: JsonObject
    has_credentials: bool
    enabled: bool
    feedback_enabled: bool
    full_resync_in_progress: bool
    last_started_at: str | None
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    seconds_since_success: float | None
    checkpoint_age_seconds: float | None
    totals: JsonObject
    last_run: JsonObject


class ExchangeList(TypedDict):
    exchanges: list[ExchangeStatus]


class SyncStarted(TypedDict):
    started: bool
    full: bool


# Reporters ---------------------------------------------------------------------------


class ReporterCreate(Request):
    name: str = coded("invalid_reporter_name", pattern=NAME_PATTERN)
    type: str = coded("invalid_reporter_type", description="An installed reporter type: cybertip.")
    url: str | None = Field(
        default=None,
        description="The service's address; null: the type's test environment (production"
        " must be named).",
    )
    credentials: str = Field(description="Write-only: USER:PASSWORD as the service issued them.")
    settings: JsonObject | None = coded("invalid_reporter_config", default=None)


class ReporterStatus(TypedDict):
    name: str
    type: str
    url: str
    #: Whether reports go to the service's production address.
    production: bool
    settings: JsonObject
    enabled: bool
    created_at: str


class ReporterList(TypedDict):
    reporters: list[ReporterStatus]


class ReporterCheck(TypedDict):
    ok: bool
    #: The service's answer, or why there was none (never a credential).
    answer: str


class ReportQuery(Query):
    case_id: int | None = coded("invalid_case_id", default=None, ge=1)
    status: str | None = Field(
        default=None, description="queued, submitting, finished, failed or retracted."
    )


class ReportEntry(TypedDict):
    id: int
    case_id: int | None
    reporter: str
    #: queued, submitting, finished, failed or retracted.
    status: str
    #: The service's id of the report (NCMEC's report id), once it has one.
    remote_id: int | None
    #: Files the service holds for it.
    files: int
    error: str | None
    created_at: str
    finished_at: str | None


class ReportList(TypedDict):
    reports: list[ReportEntry]


# Published banks ---------------------------------------------------------------------


class PublishedBank(TypedDict):
    name: str
    description: str


class PublishedBankList(TypedDict):
    banks: list[PublishedBank]


class FeedQuery(Query):
    after: int = coded("invalid_paging", default=0, ge=0)
    limit: int = coded("invalid_paging", default=1000, ge=1, le=10_000)


class Change(TypedDict):
    cursor: int
    signal_id: int | None
    content_id: int | None
    signal_type: str
    op: Literal["upsert", "delete"]
    value: NotRequired[str]
    tags: NotRequired[list[str]]


class ChangePage(TypedDict):
    changes: list[Change]
    next_after: int
    has_more: bool


# Cases -------------------------------------------------------------------------------


class CaseQuery(Query):
    status: StatusFilter = coded("invalid_filter", default="unresolved")
    queue: str | None = None
    limit: int = coded("invalid_paging", default=50, ge=1, le=500)
    offset: int = coded("invalid_paging", default=0, ge=0)


class CaseSummary(TypedDict):
    id: int
    content_ref: str
    status: CaseStatus
    decision: Verdict | None
    priority: int
    queue: str
    assigned_to: str | None
    claimed_by: str | None
    lease_expires_at: str | None
    match_count: int
    banks: list[str]
    best_distance: int | None
    created_at: str
    updated_at: str
    closed_at: str | None


class CaseList(TypedDict):
    cases: list[CaseSummary]
    total: int


class Reason(TypedDict):
    factor: str
    points: int
    why: str


class CaseMatch(TypedDict):
    bank: str
    content_id: int
    signal_type: str
    signal: str
    query_signal: str
    distance: int
    quality: int | None
    tags: list[str]
    variant: str | None
    exchange: NotRequired[str | None]
    upstream_id: NotRequired[str | None]
    opinions: NotRequired[list[JsonObject]]
    query_match_percent: NotRequired[float]
    bank_match_percent: NotRequired[float]
    matched_at: str


class DecisionRecord(TypedDict):
    id: int
    decision: Verdict
    state: DecisionState
    classification: list[str]
    reason: str | None
    note: str
    decided_by: str
    decided_at: str
    effective_at: str | None
    approved_by: str | None


class WebhookDeliveryRecord(TypedDict):
    id: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None


class CaseDetail(CaseSummary):
    priority_reasons: list[Reason]
    has_media: bool
    has_text: bool
    metadata: JsonObject
    matches: list[CaseMatch]
    decisions: list[DecisionRecord]
    webhook_deliveries: list[WebhookDeliveryRecord]


class TextMark(TypedDict):
    #: Character offsets in `text` (Python string indices, end exclusive).
    start: int
    end: int
    keyword: str


class RevealedText(TypedDict):
    text: str
    marks: list[TextMark]


class DecisionIn(Request):
    decision: Verdict = coded("invalid_decision", strict=False)
    note: str | None = coded("invalid_note", default=None, max_length=10_000)
    classification: list[str] | None = coded(
        "invalid_request", default=None, description="Taxonomy tags of a confirmation."
    )
    reason: RejectReason | None = coded("invalid_reason", default=None)
    escalate_to: str | None = coded(
        "invalid_request", default=None, description="A queue, or user:<name>."
    )


class Reassignment(Request):
    to: str = coded("invalid_request", description="user:<name> or token:<name>.")


# Metrics -----------------------------------------------------------------------------


class PeriodQuery(Query):
    start: str | None = coded("invalid_period", default=None, description="ISO date or time.")
    end: str | None = coded("invalid_period", default=None, description="ISO date or time.")


class TransparencyQuery(PeriodQuery):
    format: Literal["json", "csv"] = coded("invalid_format", default="json")


class Period(TypedDict):
    start: str
    end: str


class QueueFigures(TypedDict):
    at: str
    by_status: dict[str, int]
    oldest_age_seconds: float | None
    claimed: int


class Durations(TypedDict):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    mean_seconds: float | None


class DecisionFigures(TypedDict):
    total: int
    by_decision: dict[str, int]
    by_reviewer: dict[str, dict[str, int]]
    time_to_decision: Durations
    undone: int


class Metrics(TypedDict):
    period: Period
    queue: QueueFigures
    decisions: DecisionFigures


class Transparency(TypedDict):
    period: Period
    content_actioned: int
    cases_rejected: int
    matches_by_signal_type: dict[str, int]
    content_actioned_by_signal_type: dict[str, int]
    cases_rejected_by_signal_type: dict[str, int]
    signals_added_by_signal_type: dict[str, int]
    feedback_sent_by_verdict: dict[str, int]
    webhooks_delivered: int
    #: Reports of confirmed cases finished in the period (NCMEC's CyberTipline).
    reports_finished: int


# The service -------------------------------------------------------------------------


class IndexState(TypedDict):
    size: int
    applied_change_id: int
    lag: int | None


class Status(TypedDict):
    status: Literal["ok", "unavailable"]
    #: The rest only for a token.
    version: NotRequired[str]
    database: NotRequired[str]
    indexes: NotRequired[dict[str, IndexState]]
    change_log_head: NotRequired[int]
    applied_change_id: NotRequired[int]
    index_lag: NotRequired[int]


class Liveness(TypedDict):
    status: Literal["ok"]
    version: str


class Readiness(TypedDict):
    status: Literal["ready", "unready"]
    reason: NotRequired[str]
