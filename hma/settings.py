"""Settings: built-in defaults, then a TOML file (`HMA_CONFIG`), then `HMA_<NAME>` variables,
then command-line options.

`Settings` is one pydantic model, so every source is parsed the same way and
checked against the same ranges: the same name in all places (lowercase in
TOML, uppercase with the `HMA_` prefix in the environment), and an unknown
name, a value of the wrong type or one out of range stops the process with an
error that names the setting, instead of being ignored. The field
descriptions are the documentation: `hma settings --markdown` prints the
table in docs/operations.md from them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from actioners.retention import RetentionPolicy
from banks.egress import EgressPolicy, parse_allowed_peers, parse_target
from core.errors import EgressRefused, SettingsError
from core.typed import StrictModel, describe
from hashers import HashingConfig, MediaLimits
from hashers.account_keys import MIN_SECRET
from hashers.accounts import KEY_NAME

ENV_PREFIX = "HMA_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(StrictModel):
    data_dir: Path = Field(
        Path("hma-data"),
        description=(
            "The state directory: the SQLite database, the secret key file, index snapshots."
        ),
    )
    database_url: str = Field(
        "",
        description=(
            "SQLAlchemy URL, e.g. `postgresql+psycopg://user@host:5432/hma`; empty: SQLite at "
            "`<data_dir>/hma.db`."
        ),
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1,
        description=(
            "Largest upload accepted, in bytes (50 MiB by default); larger uploads get 413."
        ),
    )
    max_image_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Larger images (and video frames) are refused before decoding.",
    )
    max_video_seconds: float = Field(
        3 * 3600,
        gt=0,
        description="Longer videos are refused, from the header and while decoding.",
    )
    max_video_frames: int = Field(
        20_000, ge=1, description="Most frames hashed from one video or animation."
    )
    video_seconds_per_hash: float = Field(
        1.0, ge=0, description="Hash one video frame every this many seconds (0: every frame)."
    )
    pdq_fast_decode: bool = Field(
        True, description="Decode large images at a reduced size where PDQ stays within a few bits."
    )
    exif_orientation: bool = Field(
        True, description="Apply the EXIF orientation tag before hashing (hash what people see)."
    )
    unletterbox: bool = Field(
        False, description="Trim uniform borders (letterboxing) before hashing."
    )
    pdq_dihedral: bool = Field(
        False, description="Also look up PDQ's rotated and flipped variants of every image."
    )
    extra_hashers: str = Field(
        "",
        description=(
            "Optional hashers, comma-separated: `phash`, `dhash` (needs `pip install "
            "'hma[perceptual]'`)."
        ),
    )
    hash_workers: int = Field(
        0, ge=0, description="Worker processes for batch hashing in the CLI (0: one per core)."
    )
    pdq_quality_min: int = Field(
        50, ge=0, le=100, description="PDQ hashes under this quality are reported but not matched."
    )
    pdq_match_threshold: int = Field(
        31,
        ge=0,
        le=256,
        description=(
            "PDQ Hamming distance at or under which images (and video frames) match; banks may "
            "override it."
        ),
    )
    video_query_match_percent: float = Field(
        80.0,
        ge=0,
        le=100,
        description="Share of a video's frames that must match a bank video.",
    )
    video_bank_match_percent: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Share of the bank video's frames that must be matched.",
    )
    index_snapshot_seconds: float = Field(
        600.0,
        ge=0,
        description=(
            "Seconds between background snapshots of the match indexes (0: only after a full "
            "build)."
        ),
    )
    fetch_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description=(
            'Seconds a fetch for hashing `{"url": ...}` may take in all, connecting to the '
            "last byte."
        ),
    )
    fetch_concurrency: int = Field(
        4,
        ge=1,
        description=(
            "URL fetches a worker runs at once; one more is answered 503 at once. Keep it "
            "below `serve_threads`, so slow hosts never hold every request thread."
        ),
    )
    egress_allow: str = Field(
        "",
        description=(
            "Private addresses outbound requests may reach, comma-separated: `10.0.0.0/8`, "
            "`127.0.0.1:8080`, `[::1]:443` ([outbound requests](#outbound-requests))."
        ),
    )
    import_folder: str = Field(
        "",
        description="The only folder `list` exchanges may read local files from (empty: none).",
    )
    secret_key: str = Field(
        "",
        repr=False,
        description=(
            "Encrypts exchange credentials and TOTP secrets at rest and signs console sessions "
            "([below](#the-secret-key)); empty: a key file `<data_dir>/secret.key`. Never "
            "printed."
        ),
    )
    account_keys: str = Field(
        "",
        repr=False,
        description=(
            "Keys for banks that keep accounts as keyed hashes, `name=secret` comma-separated "
            "(secrets of 16 bytes or more; [signals.md](signals.md#keyed-accounts)). Never "
            "printed; a bank keyed under a name left out can take no more accounts."
        ),
    )
    taxonomy_file: str = Field(
        "",
        description=(
            "The program taxonomy, a TOML file ([exchanges.md](exchanges.md#taxonomy)); empty: "
            "the shipped `config/taxonomy.toml`. An unreadable or malformed file stops the "
            "process."
        ),
    )
    undo_seconds: float = Field(
        60.0,
        ge=0,
        description=(
            "Seconds a confirmation or rejection stays pending, and can be undone, before it "
            "takes effect (0: at once)."
        ),
    )
    webhook_url: str = Field(
        "",
        description=(
            "Where decisions that took effect are POSTed ([review.md](review.md#webhooks)); "
            "empty: no webhook."
        ),
    )
    webhook_secret: str = Field(
        "",
        repr=False,
        description=(
            "Key of the HMAC-SHA256 in `X-HMA-Signature`; never printed; required when "
            "`webhook_url` is set (the service refuses to start without it)."
        ),
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds to wait for the platform to answer one webhook delivery."
    )
    webhook_max_attempts: int = Field(
        12,
        ge=1,
        description=(
            "Tries per delivery before it is marked failed (15 s, 30 s, 60 s, ... at most an hour"
            " apart)."
        ),
    )
    two_person_rule: bool = Field(
        True,
        description=(
            "Most severe confirmations, and false-positive rejections of content from exchanges "
            "that take feedback, need a second reviewer "
            "([review.md](review.md#the-two-person-rule))."
        ),
    )
    review_lease_seconds: float = Field(
        300.0,
        gt=0,
        description=(
            "How long a reviewer's claim on a case lasts unless renewed (the console renews it "
            "every minute)."
        ),
    )
    max_text_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description=(
            "Largest text scanned for keywords and links, in UTF-8 bytes (1 MiB); more gets 413."
        ),
    )
    review_media_pixels: int = Field(
        640,
        ge=0,
        description="Longest side of the reduced copy a case keeps for previews (0: keep nothing).",
    )
    report_originals: bool = Field(
        False,
        description=(
            "Keep each matched upload itself, encrypted with the secret key, until its"
            " reports are finished, its rejection takes effect or retention deletes its"
            " media, and upload it with its report ([reporting.md](reporting.md)); off:"
            " reports carry the upload's hashes only."
        ),
    )
    keep_rejected_media: bool = Field(
        False,
        description=(
            "Keep the reduced copy of an upload after a rejection takes effect (off: deleted "
            "then) ([retention](#retention))."
        ),
    )
    retention_media_days: int = Field(
        90,
        ge=0,
        description="Days a closed case's reduced copy is kept (0: for ever).",
    )
    retention_case_days: int = Field(
        730,
        ge=0,
        description=(
            "Days a closed case is kept with its matches, decisions and the platform's metadata "
            "(0: for ever)."
        ),
    )
    review_exposure_limit: int = Field(
        40,
        ge=1,
        description=(
            "Cases with media a reviewer may open in an hour before the console asks for a break;"
            " reviewers may set a lower limit."
        ),
    )
    audit_checkpoint_file: str = Field(
        "",
        description=(
            "Where the audit chain's head is appended hourly and by `hma audit checkpoint` "
            "(empty: `<data_dir>/audit-checkpoints.jsonl`); put it on storage the database's "
            "writers cannot rewrite."
        ),
    )
    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        description=(
            "Reverse proxies in front of `hma serve` whose `X-Forwarded-For`/`-Proto` are "
            "believed (sign-in limits count per client address; behind a balancer without this, "
            "every client is the balancer)."
        ),
    )
    console_secure_cookie: bool = Field(
        False,
        description=(
            "Mark the console's session cookie `Secure`; set it when the console is served over "
            "HTTPS."
        ),
    )
    scheduler: bool = Field(
        True,
        description=(
            "Run the background jobs in `hma serve` ([below](#the-scheduler)); off: run them with"
            " the CLI, and no feedback or webhook is sent."
        ),
    )
    hma_api_port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Serve HMA's API ([hma-compatibility.md](hma-compatibility.md)) only on this port, "
            "a second listener of `hma serve` for internal clients, and nothing else there "
            "(0: HMA's API shares the main port)."
        ),
    )
    hma_api_opens_cases: bool = Field(
        False,
        description=(
            "Lookups through HMA's API (`/m/lookup`) open review cases for what they match, "
            "under the caller's `content_ref` parameter (off: they open none, as in HMA)."
        ),
    )
    hma_api_allowed_hosts: str = Field(
        "",
        description=(
            "Hosts HMA's API may fetch media from, comma-separated; each admits its subdomains "
            "(HMA's `ALLOWED_HOSTNAMES`; empty: any public host)."
        ),
    )
    hma_api_max_remote_file_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1,
        description=(
            "Largest file HMA's API fetches for `GET /h/hash?url=`, in bytes (HMA's "
            "`MAX_REMOTE_FILE_SIZE`, 100 MiB by default); a larger one gets 413."
        ),
    )
    serve_workers: int = Field(
        0,
        ge=0,
        description=(
            "Request worker processes of `hma serve` (0: one per core); `--workers` overrides it."
        ),
    )
    serve_threads: int = Field(
        8,
        ge=1,
        description="Request threads in each worker.",
    )
    serve_hash_threads: int = Field(
        0,
        ge=0,
        description=(
            "Threads each worker hashes images in, at a lower CPU priority than its requests "
            "(0: the host's cores shared out among the workers)."
        ),
    )
    serve_hash_processes: int = Field(
        1,
        ge=1,
        description=(
            "Processes each worker hashes videos in, started at its first video, at a lower CPU "
            "priority than the workers (a decoder crashing on a hostile video costs that upload, "
            "not the worker)."
        ),
    )
    serve_queue_limit_seconds: float = Field(
        0.5,
        ge=0,
        description=(
            "A request that waited longer than this for a thread is answered 503 with "
            "`Retry-After: 1` (0: never)."
        ),
    )
    index_poll_seconds: float = Field(
        0.25,
        gt=0,
        description=(
            "How often each process reads the change log; a bank change is matchable everywhere "
            "within about this long."
        ),
    )
    token_cache_seconds: float = Field(
        5.0,
        ge=0,
        description=(
            "How long each process remembers a verified API token; a token revoked elsewhere "
            "works that much longer."
        ),
    )
    jobs_lease_seconds: float = Field(
        30.0,
        gt=0,
        description=(
            "Term of the jobs lease; a standby takes over within this long after the jobs process"
            " dies."
        ),
    )
    jobs_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description=(
            "How much lower the CPU priority of the jobs process (`--role jobs`, or the one "
            "`--role all` starts) is, so that a large sync on a host with request workers yields "
            "the cores to lookups."
        ),
    )
    log_level: LogLevel = Field(
        "INFO",
        description="Gunicorn and application log level.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("account_keys")
    @classmethod
    def _account_keys(cls, value: str) -> str:
        parse_account_keys(value)
        return value

    @field_validator("egress_allow")
    @classmethod
    def _peers(cls, value: str) -> str:
        parse_allowed_peers(value)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_address(cls, value: str) -> str:
        if value:
            try:
                parse_target(value)
            except EgressRefused as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError(
                "webhook_secret is required with webhook_url: the platform checks"
                " each notice's signature with it"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'hma.db').resolve()}"

    @property
    def hashing(self) -> HashingConfig:
        return HashingConfig(
            limits=MediaLimits(
                max_bytes=self.max_upload_bytes,
                max_pixels=self.max_image_pixels,
                max_video_seconds=self.max_video_seconds,
                max_video_frames=self.max_video_frames,
            ),
            pdq_quality_min=self.pdq_quality_min,
            fast_decode=self.pdq_fast_decode,
            exif_orientation=self.exif_orientation,
            unletterbox=self.unletterbox,
            dihedral=self.pdq_dihedral,
            video_seconds_per_hash=self.video_seconds_per_hash,
        )

    @property
    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            keep_rejected_media=self.keep_rejected_media,
            media_days=self.retention_media_days,
            case_days=self.retention_case_days,
        )

    @property
    def audit_checkpoints(self) -> Path:
        if self.audit_checkpoint_file:
            return Path(self.audit_checkpoint_file).expanduser()
        return self.data_dir / "audit-checkpoints.jsonl"

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy(
            allowed=parse_allowed_peers(self.egress_allow),
            import_folder=Path(self.import_folder).expanduser() if self.import_folder else None,
        )

    @property
    def hma_api_allowed_hosts_list(self) -> list[str]:
        return [name.strip() for name in self.hma_api_allowed_hosts.split(",") if name.strip()]

    @property
    def account_key_secrets(self) -> dict[str, bytes]:
        return parse_account_keys(self.account_keys)

    @property
    def extra_hasher_names(self) -> list[str]:
        return [name.strip() for name in self.extra_hashers.split(",") if name.strip()]

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`, checked as any other source is."""
        return build({**dict(self), **changes})


def parse_account_keys(text: str) -> dict[str, bytes]:
    """`name=secret,...` as a mapping; errors name the key, never a secret."""
    keys: dict[str, bytes] = {}
    for number, item in enumerate((i for i in text.split(",") if i.strip()), start=1):
        name, equals, secret = item.strip().partition("=")
        if not equals or not re.fullmatch(KEY_NAME, name):
            raise ValueError(
                f"item {number} is not name=secret with a name of lower-case letters,"
                " digits, '-' or '_'"
            )
        if len(secret.encode()) < MIN_SECRET:
            raise ValueError(f"the secret of key {name!r} is shorter than {MIN_SECRET} bytes")
        if name in keys:
            raise ValueError(f"key {name!r} is given twice")
        keys[name] = secret.encode()
    return keys


def build(values: Mapping[str, Any]) -> Settings:
    try:
        return Settings.model_validate(dict(values))
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then the TOML file named by HMA_CONFIG, then HMA_* variables, then overrides
    (command-line options; None means not given)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = env.get(f"{ENV_PREFIX}CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read HMA_CONFIG file {config_path}: {exc}") from exc
    for name in Settings.model_fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw:
            values[name] = raw
    values.update((name, raw) for name, raw in overrides.items() if raw is not None)
    return build(values)
