"""What every reporter is: a service that a confirmed case is reported to, by law or by
a program's rules, after its decision takes effect.

A reporter type (NCMEC's CyberTipline is the first) is a subclass of
`ReporterAdapter`, as an exchange's wire format is one of `ExchangeAdapter`:
built-in types and plugins' (entry-point group `hma.reporters`) join one
catalog (`actioners.reporters`). A configured reporter is a row of
`actioners.models.Reporter`; its credentials are sealed with the
deployment's key and go out only through the egress client, to the origin
of the address they were entered for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from banks.exchanges.base import AdapterConfig
from banks.exchanges.http import HttpClient


class ReporterConfig(AdapterConfig):
    """A reporter's settings, parsed like an exchange adapter's (`--config KEY=VALUE`)."""

    configures: ClassVar[str] = "reporter"
    error_code: ClassVar[str] = "invalid_reporter_config"


class ReporterAdapter(ABC):
    """One reporting service's wire format, for one configured reporter."""

    #: The name used by `hma reporter add --type`.
    type_name: ClassVar[str]
    config_type: ClassVar[type[ReporterConfig]] = ReporterConfig
    #: Where reports go unless `--url` says otherwise: a test environment, so that
    #: reaching production is always something an operator wrote down.
    default_base_url: ClassVar[str]
    #: The service's production addresses (a reporter at one is shown as production).
    production_base_urls: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, config: ReporterConfig, credentials: str, base_url: str, http: HttpClient
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.http = http

    @classmethod
    @abstractmethod
    def check_credentials(cls, credentials: str) -> None:
        """Refuse, with InvalidInput, credentials that cannot be in the service's form."""

    @classmethod
    def is_production(cls, base_url: str) -> bool:
        return base_url.rstrip("/") in cls.production_base_urls

    @abstractmethod
    def check(self) -> str:
        """Ask the service whether it takes these credentials; its answer, or
        `core.errors.ReportingFailed`."""
