"""Checks on what curators send: bank names, tags and metadata."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from core.errors import InvalidInput
from hashers import SignalType
from hashers.signals import PDQ

#: The names of banks and exchanges.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")
MAX_TAGS = 50
MAX_TAG_LENGTH = 100
MAX_METADATA_BYTES = 16 * 1024
#: Tags travel in comma- and semicolon-separated fields, so they may not contain those.
_TAG_FORBIDDEN = re.compile(r"[,;\x00-\x1f\x7f]")


def name_of(what: str, name: Any) -> str:
    """A bank's, an exchange's or a reporter's name (`what`), or InvalidInput saying the rule."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        article = "an" if what[0] in "aeiou" else "a"
        raise InvalidInput(
            f"{article} {what} name is 1 to 255 letters, digits, '_', '.' or '-', starting with"
            " a letter, digit or '_'",
            code=f"invalid_{what}_name",
        )
    return name


def bank_name(name: Any) -> str:
    return name_of("bank", name)


MAX_NOTE = 255


def note(value: Any) -> str | None:
    """A curator's note on an item (empty: none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise InvalidInput(f"a note is text of at most {MAX_NOTE} characters", code="invalid_note")
    return value


def matching_ratio(value: Any) -> float:
    """The share of HMA-API lookups a bank takes part in, from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(
            "matching_ratio must be a number from 0 to 1", code="invalid_matching_ratio"
        )
    return float(value)


#: A bank's threshold may reach a quarter of a Hamming type's bits (64 for PDQ):
#: further out, unrelated content matches.
THRESHOLD_SHARE = 4
MAX_PDQ_THRESHOLD = PDQ.bits // THRESHOLD_SHARE
#: Most priority points a bank's trust can add.
MAX_TRUST = 10


def bank_threshold(signal_type: SignalType, value: Any) -> int | None:
    """A bank's match distance for `signal_type`, or None for the deployment's."""
    if signal_type.comparison != "hamming":
        raise InvalidInput(
            f"{signal_type.name} signals are not compared by a distance ({signal_type.comparison}):"
            " a bank threshold is for Hamming types",
            code="invalid_threshold",
        )
    if value is None:
        return None
    ceiling = signal_type.bits // THRESHOLD_SHARE
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ceiling:
        raise InvalidInput(
            f"a {signal_type.name} threshold must be an integer from 0 to {ceiling}, or null",
            code="invalid_threshold",
        )
    return value


def trust(value: Any) -> int:
    """How many priority points a bank's matches earn for the trust put in its source."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TRUST:
        raise InvalidInput(f"trust must be an integer from 0 to {MAX_TRUST}", code="invalid_trust")
    return value


def tags(values: Any) -> list[str]:
    """Stripped, de-duplicated tags in their original order."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidInput("tags must be a list of strings", code="invalid_tags")
    result: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidInput("tags must be a list of strings", code="invalid_tags")
        tag = value.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH or _TAG_FORBIDDEN.search(tag):
            raise InvalidInput(
                f"invalid tag {value!r}: tags are 1 to {MAX_TAG_LENGTH} characters"
                " without commas, semicolons or control characters",
                code="invalid_tags",
            )
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags per item", code="invalid_tags")
    return result


def split_tags(text: str | None, separator: str) -> list[str]:
    """Tags from a delimited field (a form field, a CSV cell)."""
    if not text:
        return []
    return tags(part for part in text.split(separator) if part.strip())


def metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("metadata must be a JSON object", code="invalid_metadata")
    try:
        # Encoded as stored: a lone UTF-16 surrogate (not text) fails here, not in the
        # database.
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput("metadata must be plain JSON text", code="invalid_metadata") from exc
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"metadata is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}",
            code="invalid_metadata",
        )
    return value


def metadata_text(text: str | None) -> dict[str, Any]:
    """Metadata sent as a JSON string (a form field, a CSV cell)."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("metadata is not valid JSON", code="invalid_metadata") from exc
    return metadata(parsed)
