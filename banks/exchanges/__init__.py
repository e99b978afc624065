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
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from banks.exchanges.base import ExchangeAdapter
from core.errors import InvalidInput
from hashers.registry import BUILT_IN, PluginFailure, plugin_origin

log = logging.getLogger(__name__)

PLUGIN_GROUP = "hma.exchanges"


@dataclass
class _Adapters:
    kinds: dict[str, type[ExchangeAdapter]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def add(self, kind: object, origin: str) -> None:
        """The one way an adapter joins, the project's own as a plugin's."""
        if not (isinstance(kind, type) and issubclass(kind, ExchangeAdapter)):
            raise TypeError(f"{kind!r} is not an ExchangeAdapter subclass")
        self.kinds[kind.type_name], self.origins[kind.type_name] = kind, origin


@cache
def _load() -> _Adapters:
    from banks.exchanges.hma_feed import HMAFeedAdapter
    from banks.exchanges.lists import ListAdapter
    from banks.exchanges.ncmec import NCMECAdapter
    from banks.exchanges.sample import SampleAdapter
    from banks.exchanges.stopncii import StopNCIIAdapter
    from banks.exchanges.threatexchange import ThreatExchangeAdapter

    adapters = _Adapters()
    for kind in (
        ListAdapter,
        HMAFeedAdapter,
        ThreatExchangeAdapter,
        NCMECAdapter,
        StopNCIIAdapter,
        SampleAdapter,
    ):
        adapters.add(kind, BUILT_IN)
    for entry_point in entry_points(group=PLUGIN_GROUP):
        try:
            adapters.add(entry_point.load(), plugin_origin(entry_point))
        except Exception as exc:  # a plugin's bug must not stop the service
            adapters.failures.append(PluginFailure(PLUGIN_GROUP, entry_point.name, repr(exc)))
            log.error("exchange plugin %s left out: it failed to load: %r", entry_point.name, exc)
    return adapters


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
