"""Signal types: what a fingerprint is, how to validate it and how to compare two.

A *signal* is one fingerprint of one piece of content (a PDQ hash, an MD5, ...).
Its *type* decides how values are written (normalised lowercase hex for the
built-in ones) and how they compare: exactly, or by Hamming distance. Indexes
in `matchers` pick their data structure from `SignalType.comparison`, so a new
signal type needs no change there as long as it compares like an existing one.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import InvalidSignal
from hashers.accounts import parse_account
from hashers.domains import normalize_domain, parent_domains
from hashers.keywords import normalize_keyword
from hashers.text import refang
from hashers.urls import CanonicalURL, canonicalize

#: exact: equal or not; hamming: bit distance; frames: a bag of PDQ frame hashes (video);
#: keywords: bank values are words and phrases, queried values texts to find them in.
Comparison = Literal["exact", "hamming", "frames", "keywords"]


@dataclass(frozen=True)
class Signal:
    """One fingerprint of one piece of content.

    `quality` is set by hashers that can judge their own output (PDQ); a signal
    whose quality is under the configured minimum is kept and reported, with
    `usable` false, so that callers can see why it was not matched.
    """

    type: str
    value: str
    quality: int | None = None
    usable: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by the HTTP API and `hma hash --json`."""
        out: dict[str, Any] = {"type": self.type, "value": self.value}
        if self.quality is not None:
            out["quality"] = self.quality
        if self.quality is not None or not self.usable:
            out["usable"] = self.usable
        out.update(self.extra)
        return out


class SignalType(ABC):
    """The rules for one kind of signal; subclasses are stateless singletons."""

    name: str
    comparison: Comparison
    #: For Hamming types: the number of bits in a value, and the distance at
    #: or under which two values are treated as the same content by default.
    bits: int = 0
    default_threshold: int = 0
    #: An index class of the type's own (the interface of `matchers.base.SignalIndex`:
    #: `add`, `remove`, `query`, `save`, `load`...); None: the matchers choose one by
    #: `comparison` and `bits`. A plugin's type that compares in its own way brings it.
    index_class: type | None = None
    #: Values that identify a person (an address, a handle): once removed, not even
    #: their index keys may stay behind in an index snapshot on disk.
    personal: bool = False
    #: A digest of the file's bytes: a match means the very same file.
    identifies_bytes: bool = False
    #: Values a bank may keep as keyed hashes (`hashers.account_keys`), and which a
    #: lookup therefore also tries keyed under each of the registry's keys.
    keyable: bool = False
    #: Canonical values of the type, for tests, demonstrations and the `sample`
    #: exchange (which serves every registered type's examples).
    examples: tuple[str, ...] = ()

    @abstractmethod
    def normalize(self, value: str) -> str:
        """Return the canonical spelling of `value`, or raise InvalidSignal."""

    def lookup_values(self, value: str) -> list[str]:
        """The bank values a queried `value` matches exactly: itself, or for types that
        cover others (a domain its subdomains), each value that would cover it."""
        return [value]

    def distance(self, a: str, b: str) -> int:
        """Distance between two normalised values (0 means identical)."""
        if self.comparison == "hamming":
            return (int(a, 16) ^ int(b, 16)).bit_count()
        return 0 if a == b else 1


class HexSignalType(SignalType):
    """A fixed-length hexadecimal value, stored lowercase."""

    hex_length: int

    def __init__(
        self,
        name: str,
        hex_length: int,
        comparison: Comparison = "exact",
        default_threshold: int = 0,
        examples: tuple[str, ...] = (),
        identifies_bytes: bool = False,
    ) -> None:
        self.name = name
        self.examples = examples
        self.identifies_bytes = identifies_bytes
        self.hex_length = hex_length
        self.comparison = comparison
        self.bits = hex_length * 4 if comparison == "hamming" else 0
        self.default_threshold = default_threshold
        self._pattern = re.compile(rf"[0-9a-f]{{{hex_length}}}")

    def normalize(self, value: str) -> str:
        if not isinstance(value, str):
            raise InvalidSignal(f"{self.name} value must be a string of hex digits")
        candidate = value.strip().lower()
        if not self._pattern.fullmatch(candidate):
            raise InvalidSignal(
                f"{self.name} value must be {self.hex_length} hexadecimal digits,"
                f" got {len(candidate)} characters"
            )
        return candidate

    def __repr__(self) -> str:
        return f"HexSignalType({self.name!r})"


#: Half of a UTF-16 surrogate pair on its own: JSON can spell one, no encoder takes it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class TextSignalType(SignalType):
    """A signal written as text (an address, a domain, an account, a phrase): a value
    is checked to be text at all before the type's own rules read it."""

    def normalize(self, value: str) -> str:
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise InvalidSignal(
                f"{self.name} value holds a lone UTF-16 surrogate, which is not text",
                code="invalid_text",
            )
        return self.normalize_text(value)

    @abstractmethod
    def normalize_text(self, value: str) -> str:
        """The canonical spelling of text `value`, or InvalidSignal."""


class URLSignalType(TextSignalType):
    """A web address or a part of a site, matched the way URL blocklists match.

    Stored as a lookup expression (`host/path?query`, see `hashers.urls`): a
    full URL, or a host or folder ending in `/` that covers everything under
    it. A queried URL matches each entry equal to one of its expressions.
    Defanged spellings (`hxxp://example[.]com`), as threat feeds write them,
    are taken as the link they stand for.
    """

    name = "url"
    comparison = "exact"
    examples = ("known-bad.example/page?id=1", "known-bad.example/folder/")
    #: Longest canonical form kept (longer ones are refused: they would not fit
    #: a database index, and no blocklist entry is that long).
    max_length = 2048

    def normalize_text(self, value: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidSignal("url value must be a non-empty string", code="invalid_url")
        expression = canonicalize(refang(value)).expression
        if len(expression) > self.max_length:
            raise InvalidSignal(
                f"url is longer than {self.max_length} characters once canonical",
                code="invalid_url",
            )
        return expression

    def lookup_values(self, value: str) -> list[str]:
        return CanonicalURL.from_expression(value).expressions()


class DomainSignalType(TextSignalType):
    """A host or registrable domain, covering itself and every subdomain."""

    name = "domain"
    comparison = "exact"
    examples = ("known-bad.example",)

    def normalize_text(self, value: str) -> str:
        return normalize_domain(refang(value) if isinstance(value, str) else value)

    def lookup_values(self, value: str) -> list[str]:
        return parent_domains(value)


class AccountSignalType(TextSignalType):
    """An account identifier, `kind:value` (see `hashers.accounts` for each kind's rules)."""

    name = "account"
    comparison = "exact"
    examples = ("email:someone@example.com",)
    personal = True
    keyable = True

    def normalize_text(self, value: str) -> str:
        return parse_account(value)


class KeywordSignalType(TextSignalType):
    """A word or phrase, found in text after folding (see `hashers.keywords`).

    As a bank value it is the keyword; as a queried value, the text to search.
    """

    name = "keyword"
    comparison = "keywords"
    examples = ("example forbidden phrase",)

    def normalize_text(self, value: str) -> str:
        return normalize_keyword(value)


# The media examples are the hashes of two public reference photos of PDQ's
# (pdq-reference/aaa-orig.jpg and wee.jpg, in tests/fixtures).

#: PDQ: 256-bit perceptual hash; 31 bits is the distance its authors recommend.
PDQ = HexSignalType(
    "pdq",
    64,
    comparison="hamming",
    default_threshold=31,
    examples=(
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    ),
)
MD5 = HexSignalType(
    "md5",
    32,
    identifies_bytes=True,
    examples=("d35c785545392755e7e4164457657269", "8bbbaa9540800e378beadc8bbef7bb32"),
)
SHA256 = HexSignalType(
    "sha256",
    64,
    identifies_bytes=True,
    examples=(
        "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298",
        "05636c50d0c2ffe3a820f964eaba35b404deadd10538fe452ad9fb16fdd823d7",
    ),
)
#: 64-bit perceptual hashes computed by imagehash (optional hashers, see hashers.perceptual).
PHASH = HexSignalType(
    "phash", 16, comparison="hamming", default_threshold=10, examples=("aca29c1c33dc23d7",)
)
DHASH = HexSignalType(
    "dhash", 16, comparison="hamming", default_threshold=10, examples=("b7b78fa7173336d6",)
)
URL = URLSignalType()
DOMAIN = DomainSignalType()
ACCOUNT = AccountSignalType()
KEYWORD = KeywordSignalType()
