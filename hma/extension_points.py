"""Every way an installed package extends the service, declared once.

Each is an entry-point group; `docs/plugins.md` has a section per group, and
a test holds the two (and every group the code reads) to this list.
"""

from __future__ import annotations

from dataclasses import dataclass

from actioners.reporters import PLUGIN_GROUP as REPORTER_GROUP
from banks.exchanges import PLUGIN_GROUP as EXCHANGE_GROUP
from hashers import PLUGIN_GROUP as SIGNAL_GROUP


@dataclass(frozen=True)
class ExtensionPoint:
    #: The entry-point group a package names in its `pyproject.toml`.
    group: str
    #: What the entry point names.
    target: str
    #: What it adds.
    adds: str


EXTENSION_POINTS = (
    ExtensionPoint(
        SIGNAL_GROUP,
        "a function `register(registry)`",
        "signal types (with their own index, if they compare in their own way) and hashers",
    ),
    ExtensionPoint(
        EXCHANGE_GROUP,
        "an `ExchangeAdapter` subclass",
        "exchange adapters: a signal-sharing program's wire format",
    ),
    ExtensionPoint(
        REPORTER_GROUP,
        "a `ReporterAdapter` subclass",
        "reporter types: a service confirmed cases are reported to",
    ),
)
