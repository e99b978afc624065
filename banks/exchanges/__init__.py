"""Exchange adapters: one per signal-sharing program's wire format.

Built in: lists (`list`), other instances of this project (`hma`),
ThreatExchange (`threatexchange`), NCMEC hash sharing (`ncmec`) and StopNCII
(`stopncii`). Packages add adapters with an entry point in the
`hma.exchanges` group naming an ExchangeAdapter subclass; the sync engine
needs no change for them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from banks.exchanges.base import ExchangeAdapter
from core.errors import InvalidInput

PLUGIN_GROUP = "hma.exchanges"


@cache
def adapter_types() -> dict[str, type[ExchangeAdapter]]:
    from banks.exchanges.hma_feed import HMAFeedAdapter
    from banks.exchanges.lists import ListAdapter
    from banks.exchanges.ncmec import NCMECAdapter
    from banks.exchanges.stopncii import StopNCIIAdapter
    from banks.exchanges.threatexchange import ThreatExchangeAdapter

    kinds: dict[str, type[ExchangeAdapter]] = {
        kind.type_name: kind
        for kind in (
            ListAdapter,
            HMAFeedAdapter,
            ThreatExchangeAdapter,
            NCMECAdapter,
            StopNCIIAdapter,
        )
    }
    for entry_point in entry_points(group=PLUGIN_GROUP):
        kind = entry_point.load()
        kinds[kind.type_name] = kind
    return kinds


def adapter_type(name: str) -> type[ExchangeAdapter]:
    kinds = adapter_types()
    if name not in kinds:
        raise InvalidInput(
            f"unknown exchange type {name!r}; known: {', '.join(sorted(kinds))}",
            code="invalid_exchange_type",
        )
    return kinds[name]
