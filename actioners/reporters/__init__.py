"""Reporter types: the built-in ones (`cybertip`) and those installed packages add with an
entry point in the `hma.reporters` group naming a `ReporterAdapter` subclass."""

from __future__ import annotations

from functools import cache

from actioners.reporters.base import ReporterAdapter
from core.errors import InvalidInput
from core.plugins import Catalog, PluginFailure

PLUGIN_GROUP = "hma.reporters"


@cache
def _load() -> Catalog[type[ReporterAdapter]]:
    from actioners.reporters.cybertip import CyberTipAdapter

    catalog: Catalog[type[ReporterAdapter]] = Catalog(
        PLUGIN_GROUP, ReporterAdapter, lambda kind: kind.type_name
    )
    return catalog.load((CyberTipAdapter,))


def reporter_types() -> dict[str, type[ReporterAdapter]]:
    """Every usable reporter type by its name."""
    return dict(_load().kinds)


def reporter_origins() -> dict[str, str]:
    return dict(_load().origins)


def reporter_failures() -> list[PluginFailure]:
    return list(_load().failures)


def reporter_type(name: str) -> type[ReporterAdapter]:
    kinds = reporter_types()
    if name not in kinds:
        raise InvalidInput(
            f"unknown reporter type {name!r}; known: {', '.join(sorted(kinds))}",
            code="invalid_reporter_type",
        )
    return kinds[name]
