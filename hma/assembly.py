"""Where the deployment's settings meet the layers below: the one place that turns
`Settings` into a registry, a taxonomy, a match configuration, a scanner and the
process's one outbound HTTP client.

The layers take plain values (a hashing config, a threshold, a path); only the
shell knows which setting each comes from.
"""

from __future__ import annotations

from actioners.review import ReviewPolicy
from actioners.scan import Scanner
from banks.egress import Egress
from banks.lookup import BankIndexes, MatchConfig
from banks.taxonomy import Taxonomy
from core.errors import SettingsError, TaxonomyError
from hashers import Registry, default_registry
from hashers.account_keys import AccountKeys
from hashers.signals import PDQ
from hashers.vpdq import VPDQ
from hma.secrets import secret_box
from hma.settings import Settings


def build_egress(settings: Settings) -> Egress:
    """The process's one way out: exchanges, webhooks and media fetches all get it,
    so one policy (and one pool of connections) governs every outbound request."""
    return Egress(settings.egress_policy)


def load_taxonomy(settings: Settings) -> Taxonomy:
    """The program taxonomy these settings name; an unreadable one is a settings error."""
    try:
        return Taxonomy.load(settings.taxonomy_file or None)
    except TaxonomyError as exc:
        raise SettingsError(str(exc)) from exc


def build_registry(settings: Settings) -> Registry:
    """The hashers these settings ask for, with the deployment's account keys; a bad
    `extra_hashers` is a settings error."""
    keys = AccountKeys(settings.account_key_secrets)
    try:
        registry = default_registry(extra_hashers=settings.extra_hasher_names)
    except (ValueError, RuntimeError) as exc:
        raise SettingsError(f"setting extra_hashers: {exc}") from exc
    registry.account_keys = keys
    return registry


def review_policy(settings: Settings, taxonomy: Taxonomy) -> ReviewPolicy:
    """The review rules: the settings', and the taxonomy's tags that are reported."""
    return ReviewPolicy(
        undo_seconds=settings.undo_seconds,
        two_person_rule=settings.two_person_rule,
        lease_seconds=settings.review_lease_seconds,
        webhook_url=settings.webhook_url,
        keep_rejected_media=settings.keep_rejected_media,
        reportable=taxonomy.reportable,
    )


def match_config(settings: Settings) -> MatchConfig:
    return MatchConfig(
        thresholds={
            PDQ.name: settings.pdq_match_threshold,
            VPDQ.name: settings.pdq_match_threshold,
        },
        quality_min=settings.pdq_quality_min,
        video_query_share=settings.video_query_match_percent / 100,
        video_bank_share=settings.video_bank_match_percent / 100,
        snapshot_dir=settings.data_dir / "indexes",
        snapshot_interval=settings.index_snapshot_seconds,
    )


def build_scanner(
    settings: Settings, registry: Registry | None = None, taxonomy: Taxonomy | None = None
) -> Scanner:
    """A scanner that hashes in the caller's thread (a server then hands it its own
    hashing: `hma.hashing_pool.ServerHashing`)."""
    registry = registry or build_registry(settings)
    return Scanner(
        registry,
        BankIndexes(registry, match_config(settings)),
        taxonomy or load_taxonomy(settings),
        settings.hashing,
        settings.review_media_pixels,
        secret_box(settings).encrypt_bytes if settings.report_originals else None,
    )
