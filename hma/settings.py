"""Settings: built-in defaults, then a TOML file (`HMA_CONFIG`), then `HMA_<NAME>` variables.

Every field of `Settings` can be set in all three places under the same name
(lowercase in TOML, uppercase with the `HMA_` prefix in the environment).
Unknown TOML keys and values of the wrong type are errors, so a typo in a
deployment's configuration stops the process instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from actioners.retention import RetentionPolicy
from actioners.review import ReviewPolicy
from banks.egress import EgressPolicy, parse_allowed_peers
from hashers import HashingConfig, MediaLimits

ENV_PREFIX = "HMA_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is unknown or has a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Settings:
    #: Where the embedded database and other state live.
    data_dir: Path = Path("hma-data")
    #: SQLAlchemy URL; empty means SQLite at `<data_dir>/hma.db`.
    database_url: str = ""
    #: Largest upload accepted, in bytes (HTTP 413 above it).
    max_upload_bytes: int = 50 * 1024 * 1024
    #: Largest image (or video frame) accepted, in pixels, checked before decoding.
    max_image_pixels: int = 100_000_000
    #: Longest video accepted, in seconds, as its header claims and as decoded.
    max_video_seconds: float = 3 * 3600
    #: Most frames hashed from one video or animation.
    max_video_frames: int = 20_000
    #: Hash one video frame every this many seconds (0: every frame).
    video_seconds_per_hash: float = 1.0
    #: Decode large images at a reduced size where PDQ stays within a few bits.
    pdq_fast_decode: bool = True
    #: Apply the EXIF orientation tag before hashing (hash what people see).
    exif_orientation: bool = True
    #: Trim uniform borders (letterboxing) before hashing.
    unletterbox: bool = False
    #: Also look up PDQ's rotated and flipped variants of every image.
    pdq_dihedral: bool = False
    #: Optional hashers to turn on, comma-separated: phash, dhash.
    extra_hashers: str = ""
    #: Worker processes for batch hashing in the CLI (0: one per core).
    hash_workers: int = 0
    #: PDQ hashes under this quality are reported but not matched.
    pdq_quality_min: int = 50
    #: Hamming distance at or under which two PDQ hashes match (banks may override it).
    pdq_match_threshold: int = 31
    #: A video matches a bank video when at least this share of its frames match...
    video_query_match_percent: float = 80.0
    #: ...and at least this share of the bank video's frames are matched.
    video_bank_match_percent: float = 0.0
    #: Seconds between background snapshots of the match indexes (0: only after a full build).
    index_snapshot_seconds: float = 600.0
    #: Seconds to wait for a remote server when hashing `{"url": ...}`.
    fetch_timeout_seconds: float = 10.0
    #: Private addresses outbound requests (exchanges, webhooks, `{"url": ...}`)
    #: may reach, comma-separated: `10.0.0.0/8`, `127.0.0.1:8080`, `[::1]:443`.
    #: Public addresses are always allowed; everything else is refused.
    egress_allow: str = ""
    #: The only folder `list` exchanges may read local files from (empty: none).
    import_folder: str = ""
    #: Encrypts exchange credentials at rest (empty: a key file in the data dir).
    secret_key: str = dataclasses.field(default="", repr=False)
    #: The program taxonomy (empty: the one shipped in config/taxonomy.toml).
    taxonomy_file: str = ""
    #: Seconds a decision waits, and can be undone, before it acts (webhook, feedback).
    undo_seconds: float = 60.0
    #: Where decisions that took effect are POSTed as signed JSON (empty: no webhook).
    webhook_url: str = ""
    #: Key of the HMAC-SHA256 in the webhook's `X-HMA-Signature` header.
    webhook_secret: str = dataclasses.field(default="", repr=False)
    #: Seconds to wait for the platform to answer one webhook delivery.
    webhook_timeout_seconds: float = 10.0
    #: Tries per webhook delivery before it is marked failed (backoff doubles up to an hour).
    webhook_max_attempts: int = 12
    #: Rejections that would send false-positive feedback to a shared exchange, and
    #: confirmations in the most severe categories, need a second reviewer.
    two_person_rule: bool = True
    #: Seconds a reviewer's claim on a case lasts unless the console renews it.
    review_lease_seconds: float = 300.0
    #: Keep a reduced copy of uploads that open cases, for reviewers' previews
    #: (longest side in pixels; 0: keep nothing, reviewers see match details only).
    review_media_pixels: int = 640
    #: Keep the reduced copy of an upload after a rejection (not abuse) takes
    #: effect (off: it is deleted then).
    keep_rejected_media: bool = False
    #: Days the reduced copy of a closed case's upload is kept (0: for ever).
    retention_media_days: int = 90
    #: Days a closed case is kept, with its matches, decisions and the platform's
    #: metadata (0: for ever).
    retention_case_days: int = 730
    #: Cases whose media a reviewer may open in an hour before the console asks
    #: for a break (reviewers may set a lower limit for themselves).
    review_exposure_limit: int = 40
    #: Where `hma audit checkpoint` (and the jobs process, hourly) appends the
    #: audit chain's head; empty: `<data_dir>/audit-checkpoints.jsonl`. Put it on
    #: storage the database's writers cannot rewrite (append-only, another host).
    audit_checkpoint_file: str = ""
    #: Reverse proxies (load balancers) in front of `hma serve` whose
    #: X-Forwarded-For and X-Forwarded-Proto are believed, counted from the
    #: server (0: the client is whoever connects). Sign-in limits count per
    #: client address: behind a proxy, without this, every client is the proxy.
    trusted_proxy_hops: int = 0
    #: Mark the console's session cookie Secure (set it when the console is served over HTTPS).
    console_secure_cookie: bool = False
    #: Run exchange syncs and feedback in `hma serve` (off: run them with the CLI).
    scheduler: bool = True
    #: Worker processes of `hma serve` (0: one per core).
    serve_workers: int = 0
    #: Threads serving HTTP requests in each worker.
    serve_threads: int = 8
    #: Processes each worker hashes uploads in, at a lower CPU priority than the
    #: workers, so that decoding and hashing never hold lookups up.
    serve_hash_processes: int = 1
    #: A request that waited longer than this for a thread is answered 503 with
    #: Retry-After instead (0: never shed load).
    serve_queue_limit_seconds: float = 0.5
    #: How often each process reads the change log to keep its indexes current.
    index_poll_seconds: float = 0.25
    #: Seconds a verified API token is remembered per process (a revoked token
    #: keeps working that much longer on processes that had just seen it).
    token_cache_seconds: float = 5.0
    #: Term of the lease that lets one process across all hosts run the jobs;
    #: a successor takes over within this long after the holder dies.
    jobs_lease_seconds: float = 30.0
    #: How much lower the CPU priority of a `--role jobs` process is: a large
    #: sync sharing a host with request workers yields the cores to lookups.
    jobs_niceness: int = 10
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        for name in ("retention_media_days", "retention_case_days"):
            if getattr(self, name) < 0:
                raise SettingsError(f"setting {name}: days cannot be negative (0 keeps for ever)")
        try:
            parse_allowed_peers(self.egress_allow)
        except ValueError as exc:
            raise SettingsError(f"setting egress_allow: {exc}") from None
        if self.webhook_url and not self.webhook_secret:
            raise SettingsError(
                "webhook_secret is required with webhook_url: the platform checks"
                " each notice's signature with it"
            )

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
    def review_policy(self) -> ReviewPolicy:
        return ReviewPolicy(
            undo_seconds=self.undo_seconds,
            two_person_rule=self.two_person_rule,
            lease_seconds=self.review_lease_seconds,
            webhook_url=self.webhook_url,
            keep_rejected_media=self.keep_rejected_media,
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
    def extra_hasher_names(self) -> list[str]:
        return [name.strip() for name in self.extra_hashers.split(",") if name.strip()]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, kind: type, raw: Any) -> Any:
    """Convert a TOML or environment value to the field's type, or explain why not."""
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError("expected true or false")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: {raw!r} is not a valid {kind.__name__}") from exc


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then the TOML file named by HMA_CONFIG, then HMA_* variables, then overrides."""
    env = os.environ if environ is None else environ
    types = get_type_hints(Settings)
    values: dict[str, Any] = {}

    config_path = env.get(f"{ENV_PREFIX}CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as handle:
                table = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read HMA_CONFIG file {config_path}: {exc}") from exc
        for key, raw in table.items():
            if key not in types:
                raise SettingsError(f"unknown setting {key!r} in {config_path}")
            values[key] = _coerce(key, types[key], raw)

    for name, kind in types.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, kind, raw)

    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, types[name], raw)
    return Settings(**values)
