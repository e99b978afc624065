"""Reporter types: the built-in ones (`cybertip`) and those installed packages add with an
entry point in the `hma.reporters` group naming a `Reporter` subclass."""

from __future__ import annotations

from functools import cache

from actioners.reporters.base import Reporter
from core.errors import InvalidInput
from core.plugins import Catalog, PluginFailure

PLUGIN_GROUP = "hma.reporters"


@cache
def _load() -> Catalog[type[Reporter]]:
    from actioners.reporters.cybertip import CyberTipReporter

    catalog: Catalog[type[Reporter]] = Catalog(PLUGIN_GROUP, Reporter, lambda kind: kind.type_name)
    return catalog.load((CyberTipReporter,))


def reporter_types() -> dict[str, type[Reporter]]:
    """Every usable reporter type by its name."""
    return dict(_load().kinds)


def reporter_origins() -> dict[str, str]:
    return dict(_load().origins)


def reporter_failures() -> list[PluginFailure]:
    return list(_load().failures)


def reporter_type(name: str) -> type[Reporter]:
    kinds = reporter_types()
    if name not in kinds:
        raise InvalidInput(
            f"unknown reporter type {name!r}; known: {', '.join(sorted(kinds))}",
            code="invalid_reporter_type",
        )
    return kinds[name]
