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
from urllib.parse import urlsplit

from core.errors import InvalidSignal

#: exact: equal or not; hamming: bit distance; frames: a bag of PDQ frame hashes (video).
Comparison = Literal["exact", "hamming", "frames"]


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

    @abstractmethod
    def normalize(self, value: str) -> str:
        """Return the canonical spelling of `value`, or raise InvalidSignal."""

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
    ) -> None:
        self.name = name
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


class URLSignalType(SignalType):
    """A web address, compared exactly after normalisation.

    The canonical form drops the scheme, the fragment, a default port and a
    trailing slash on an empty path, and lowercases the host: exchanges spell
    the same address many ways, and `https://Example.com/a#x` and
    `example.com/a` are the same lead.
    """

    name = "url"
    comparison = "exact"
    max_length = 2048

    def normalize(self, value: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidSignal("url value must be a non-empty string")
        text = value.strip()
        if len(text) > self.max_length:
            raise InvalidSignal(f"url value is longer than {self.max_length} characters")
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise InvalidSignal(f"url value is not a valid address: {exc}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidSignal("url value must be an http(s) address with a host")
        host = parts.hostname.lower()
        if port is not None and port not in (80, 443):
            host = f"{host}:{port}"
        path = parts.path if parts.path not in ("", "/") else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"{host}{path}{query}"


#: PDQ: 256-bit perceptual hash; 31 bits is the distance its authors recommend.
PDQ = HexSignalType("pdq", 64, comparison="hamming", default_threshold=31)
MD5 = HexSignalType("md5", 32)
SHA256 = HexSignalType("sha256", 64)
#: 64-bit perceptual hashes computed by imagehash (optional hashers, see hashers.perceptual).
PHASH = HexSignalType("phash", 16, comparison="hamming", default_threshold=10)
DHASH = HexSignalType("dhash", 16, comparison="hamming", default_threshold=10)
URL = URLSignalType()
