"""HMA's exchange API types, as our adapters.

HMA configures an exchange with `api_json` and keeps credentials per API
type (`credential_json`, shared by every exchange of the type); our
adapters take settings, an address and one credentials string per
exchange. Each `ApiType` says how one maps onto the other, and describes
its fields for HMA's schema route (which clients such as Coop build their
forms from). Parse errors keep HMA's wording.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from banks.egress import origin
from banks.exchanges import adapter_type
from banks.models import Exchange
from core.errors import EgressRefused, ProjectError

#: NCMEC's hash sharing environments: HMA's `environment` values, which are the
#: base addresses our NCMEC adapter takes.
NCMEC_ENVIRONMENTS = (
    "https://report.cybertip.org/hashsharing",
    "https://report.cybertip.org/exploitative-hashsharing",
    "https://lesp.ncmec.org/csam-hashsharing",
    "https://hashsharing.ncmec.org/npo",
    "https://hashsharing.ncmec.org/exploitative",
    "https://hashsharing.ncmec.org/generative-ai-csam",
    "https://hashsharing.ncmec.org/generative-ai-exploitative",
    "https://exttest.cybertip.org/hashsharing",
    "https://exttest.cybertip.org/exploitative-hashsharing",
    "https://betalesp.ncmec.org/csam-hashsharing",
    "https://hashsharing-test.ncmec.org/npo",
    "https://hashsharing-test.ncmec.org/exploitative",
    "https://hashsharing-test.ncmec.org/generative-ai-csam",
    "https://hashsharing-test.ncmec.org/generative-ai-exploitative",
)

_PYTHON_TYPES = {"string": (str, "str"), "number": (int, "int"), "boolean": (bool, "bool")}


class ParseError(ProjectError, ValueError):
    """`api_json` or `credential_json` that does not fit its type; HMA's reason."""


@dataclass(frozen=True)
class FormField:
    """One field of a configuration or credentials form."""

    name: str
    type: str
    required: bool
    help: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    #: The enum's name in error texts.
    enum_name: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "choices": list(self.choices) if self.choices is not None else None,
            "default": self.default,
            "help": self.help,
            "name": self.name,
            "required": self.required,
            "type": self.type,
        }

    def parse(self, given: Mapping[str, Any]) -> Any:
        if self.name not in given or given[self.name] is None:
            if self.required:
                raise ParseError(f'missing value for field "{self.name}"')
            return self.default
        value = given[self.name]
        if self.type == "enum":
            if value not in (self.choices or ()):
                raise ParseError(f"{value!r} is not a valid {self.enum_name}")
            return value
        if self.type.startswith("set_of_"):
            kind = self.type.removeprefix("set_of_")
            if not isinstance(value, list) or not all(_is(kind, item) for item in value):
                raise self._wrong(value, "set")
            return sorted(set(value))
        if not _is(self.type, value):
            raise self._wrong(value, _PYTHON_TYPES[self.type][1])
        return value

    def _wrong(self, value: Any, wanted: str) -> ParseError:
        return ParseError(
            f'wrong value type for field "{self.name}" - should be "{wanted}" instead of value'
            f' "{value}" of type "{type(value).__name__}"'
        )


def _is(kind: str, value: Any) -> bool:
    python_type = _PYTHON_TYPES[kind][0]
    if python_type is not bool and isinstance(value, bool):
        return False
    return isinstance(value, python_type)


def parse_fields(fields: tuple[FormField, ...], given: Any, what: str) -> dict[str, Any]:
    """Every field's value (unknown keys ignored), or ParseError naming `what`."""
    if not isinstance(given, dict):
        raise ParseError(f"Failed to parse `{what}` - expected a JSON object")
    try:
        return {field.name: field.parse(given) for field in fields}
    except ParseError as exc:
        raise ParseError(f"Failed to parse `{what}` - {exc}") from None


@dataclass(frozen=True)
class Connection:
    """What an exchange of ours needs from an HMA configuration."""

    settings: dict[str, Any]
    base_url: str | None = None


@dataclass(frozen=True)
class Secret:
    """Our credentials string for a type's `credential_json`, and the address override
    that came with it (StopNCII's `base_url_override`)."""

    credentials: str
    base_url: str | None = None


@dataclass(frozen=True)
class ApiType:
    name: str
    #: Our adapter's type name.
    ours: str
    config: tuple[FormField, ...]
    credentials: tuple[FormField, ...] | None
    connect: Callable[[dict[str, Any]], Connection]
    seal: Callable[[dict[str, Any]], Secret]
    #: The type's own fields of an exchange, as HMA shows them.
    shown: Callable[[Exchange], dict[str, Any]]
    #: Whether the credentials carry the exchange's address (StopNCII's override).
    address_in_credentials: bool = False
    #: The service's own addresses besides the adapter's default (NCMEC's environments).
    homes: tuple[str, ...] = ()

    def receives(self, base_url: str | None, secret: Secret | None) -> bool:
        """Whether the type's credentials may go to an exchange at `base_url` (None: the
        adapter's default).

        Credentials set for a type belong to that type's service: an exchange
        of the type that a curator pointed at another host must not be handed
        them. Only an address at the service's own origins (or at the address
        the credentials themselves name) receives them.
        """
        default = adapter_type(self.ours).default_base_url
        homes = (default, *self.homes, secret.base_url if secret else None)
        try:
            origins = {origin(home) for home in homes if home}
            return origin(base_url or default or "") in origins
        except EgressRefused:
            return False

    def schema(self) -> dict[str, Any]:
        creds = self.credentials
        return {
            "config_schema": {"fields": [field.describe() for field in self.config]},
            "credentials_schema": (
                {"fields": [field.describe() for field in creds]} if creds is not None else None
            ),
        }


def _takes_no_credentials(_creds: dict[str, Any]) -> Secret:
    raise ParseError("this exchange API takes no credentials")


#: Built-in example signals (`banks.exchanges.sample`), as HMA's `sample` type offers.
SAMPLE = ApiType(
    name="sample",
    ours="sample",
    config=(),
    credentials=None,
    connect=lambda config: Connection({}),
    seal=_takes_no_credentials,
    shown=lambda exchange: {},
)

THREATEXCHANGE = ApiType(
    name="fb_threatexchange",
    ours="threatexchange",
    config=(
        FormField("privacy_group", "number", True, "The id of the ThreatExchange privacy group."),
    ),
    credentials=(
        FormField("api_token", "string", True, "The app's access token, APP_ID|APP_SECRET."),
    ),
    connect=lambda config: Connection({"privacy_group": str(config["privacy_group"])}),
    seal=lambda creds: Secret(creds["api_token"]),
    shown=lambda exchange: {"privacy_group": int(exchange.settings.get("privacy_group", 0))},
)

NCMEC = ApiType(
    name="ncmec",
    ours="ncmec",
    config=(
        FormField(
            "environment",
            "enum",
            True,
            "The NCMEC hash sharing database to read.",
            choices=NCMEC_ENVIRONMENTS,
            enum_name="NCMECEnvironment",
        ),
        FormField(
            "only_esp_ids",
            "set_of_number",
            False,
            "Keep only entries from these electronic service provider ids (empty: all).",
            default=[],
        ),
    ),
    credentials=(
        FormField("user", "string", True, "The hash sharing API user name."),
        FormField("password", "string", True, "The hash sharing API password."),
    ),
    connect=lambda config: Connection(
        {"only_esp_ids": config["only_esp_ids"]}, base_url=config["environment"]
    ),
    seal=lambda creds: Secret(f"{creds['user']}:{creds['password']}"),
    shown=lambda exchange: {
        "environment": exchange.base_url or NCMEC_ENVIRONMENTS[0],
        "only_esp_ids": list(exchange.settings.get("only_esp_ids", [])),
    },
    homes=NCMEC_ENVIRONMENTS,
)

STOPNCII = ApiType(
    name="stop_ncii",
    ours="stopncii",
    config=(),
    credentials=(
        FormField("fetch_function_key", "string", True, "The key of the FetchHashes function."),
        FormField(
            "subscription_key",
            "string",
            True,
            "The API subscription key (sent as Ocp-Apim-Subscription-Key).",
        ),
        FormField(
            "base_url_override",
            "string",
            False,
            "Another API address, for testing; empty: StopNCII's own.",
        ),
    ),
    connect=lambda config: Connection({}),
    seal=lambda creds: Secret(
        f"{creds['subscription_key']}:{creds['fetch_function_key']}",
        creds.get("base_url_override") or None,
    ),
    shown=lambda exchange: {},
    address_in_credentials=True,
)

#: The API types HMA's routes offer, in the order they are listed (HMA's own order).
API_TYPES: dict[str, ApiType] = {t.name: t for t in (SAMPLE, THREATEXCHANGE, NCMEC, STOPNCII)}
BY_OURS = {t.ours: t for t in API_TYPES.values()}
