"""Exchange adapters: one per signal-sharing program's wire format.

Built in: lists (`list`), other instances of this project (`hma`),
ThreatExchange (`threatexchange`), NCMEC hash sharing (`ncmec`), StopNCII
(`stopncii`), and the signal types' examples (`sample`, for first steps).
Packages add adapters with an entry point in the `hma.exchanges` group naming
an ExchangeAdapter subclass; the sync engine needs no change for them. One
that fails to load is logged, listed by `adapter_failures` and left out; the
others work on.
"""

from __future__ import annotations

import logging
from functools import cache

from banks.exchanges.base import ExchangeAdapter
from core.errors import InvalidInput
from core.plugins import Catalog, PluginFailure

log = logging.getLogger(__name__)

PLUGIN_GROUP = "hma.exchanges"


@cache
def _load() -> Catalog[type[ExchangeAdapter]]:
    from banks.exchanges.hma_feed import HMAFeedAdapter
    from banks.exchanges.lists import ListAdapter
    from banks.exchanges.ncmec import NCMECAdapter
    from banks.exchanges.sample import SampleAdapter
    from banks.exchanges.stopncii import StopNCIIAdapter
    from banks.exchanges.threatexchange import ThreatExchangeAdapter

    catalog: Catalog[type[ExchangeAdapter]] = Catalog(
        PLUGIN_GROUP, ExchangeAdapter, lambda kind: kind.type_name
    )
    return catalog.load(
        (
            ListAdapter,
            HMAFeedAdapter,
            ThreatExchangeAdapter,
            NCMECAdapter,
            StopNCIIAdapter,
            SampleAdapter,
        )
    )


def adapter_types() -> dict[str, type[ExchangeAdapter]]:
    """Every usable adapter by its type name."""
    return dict(_load().kinds)


def adapter_origins() -> dict[str, str]:
    """Where each adapter came from: "built in", or the plugin."""
    return dict(_load().origins)


def adapter_failures() -> list[PluginFailure]:
    return list(_load().failures)


def adapter_type(name: str) -> type[ExchangeAdapter]:
    kinds = adapter_types()
    if name not in kinds:
        raise InvalidInput(
            f"unknown exchange type {name!r}; known: {', '.join(sorted(kinds))}",
            code="invalid_exchange_type",
        )
    return kinds[name]
