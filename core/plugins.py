"""Kinds of things (exchange adapters, reporters) that installed packages can add.

A catalog holds one base class's subclasses by name: the project's own first,
then each entry point of one group, which may replace a built-in of the same
name. Both join through `Catalog.add`, so a plugin's kind is checked and
recorded exactly as a built-in is. One that fails to load is kept as a
`PluginFailure` and left out; it never stops the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

BUILT_IN = "built in"

K = TypeVar("K", bound=type)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin left out, and why."""

    group: str
    name: str
    error: str


def plugin_origin(entry_point: EntryPoint) -> str:
    """`plugin NAME from DISTRIBUTION VERSION (module:attribute)`."""
    dist = entry_point.dist
    source = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"plugin {entry_point.name}{source} ({entry_point.value})"


@dataclass
class Catalog(Generic[K]):
    """Subclasses of `base` by the name `name_of` gives each."""

    group: str
    base: type
    name_of: Callable[[K], str]
    kinds: dict[str, K] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def add(self, kind: object, origin: str) -> None:
        if not (isinstance(kind, type) and issubclass(kind, self.base)):
            raise TypeError(f"{kind!r} is not an {self.base.__name__} subclass")
        name = self.name_of(kind)  # type: ignore[arg-type]
        self.kinds[name], self.origins[name] = kind, origin  # type: ignore[assignment]

    def load(self, built_in: Iterable[type]) -> Catalog[K]:
        """The built-in kinds, then every installed plugin of the group."""
        for kind in built_in:
            self.add(kind, BUILT_IN)
        for entry_point in entry_points(group=self.group):
            try:
                self.add(entry_point.load(), plugin_origin(entry_point))
            except Exception as exc:  # a plugin's bug must not stop the service
                self.failures.append(PluginFailure(self.group, entry_point.name, repr(exc)))
                log.error("plugin %s left out: it failed to load: %r", entry_point.name, exc)
        return self
