"""HMA's names and rules, translated to ours: signal and content types, bank
names, signals, content state and metadata.

HMA calls MD5 `video_md5` and hashes only what its content type says
(a `photo` gets PDQ, a `video` the MD5 of its bytes); its signals are
validated more strictly than ours (a PDQ must already be lower case), and
its error texts are part of what clients see, so they are kept word for
word.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from banks.models import BankContent
from core.errors import ProjectError

#: HMA's signal type names, and ours.
SIGNAL_TYPES = {"pdq": "pdq", "video_md5": "md5"}
OURS_TO_HMA = {ours: theirs for theirs, ours in SIGNAL_TYPES.items()}
#: HMA's content types, and the signal types each is hashed into.
CONTENT_TYPES = {"photo": ("pdq",), "video": ("video_md5",)}
#: Bank (and exchange) names as HMA has them: a subset of ours.
BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
MAX_NAME = 255
BANK_NAME_MESSAGE = "Bank names must be UPPER_WITH_UNDERSCORE"
_PDQ = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
#: `disable_until_ts` may lie at most this far ahead.
MAX_DISABLE_SECONDS = 5 * 365 * 24 * 3600
#: The longest note HMA keeps.
MAX_NOTE = 255


class SignalInvalid(ProjectError, ValueError):
    """A signal HMA would refuse; the message is HMA's reason."""


def valid_bank_name(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= MAX_NAME and bool(BANK_NAME.fullmatch(name))


def normalize_signal(signal_type: str, value: Any) -> str:
    """`value` as HMA stores it, or SignalInvalid with HMA's reason."""
    if not isinstance(value, str):
        raise SignalInvalid(f"expected string or bytes-like object, got {type(value).__name__!r}")
    if signal_type == "pdq":
        if not _PDQ.fullmatch(value):
            raise SignalInvalid("invalid PDQ hash")
        return value
    normal = value.strip().lower()
    if not _MD5.fullmatch(normal):
        raise SignalInvalid(f"{value!r} is not a valid MD5 hash")
    return normal


def distance_text(signal_type: str, distance: int) -> str:
    """Lookups write distances as strings; exact types have none ("-")."""
    return str(distance) if signal_type == "pdq" else "-"


# Content state -----------------------------------------------------------------------


def disable_until_ts(content: BankContent) -> int:
    """HMA's one number for content state: 1 enabled, 0 disabled, else disabled until then."""
    if content.enabled:
        return 1
    if content.disabled_until is None:
        return 0
    return int(content.disabled_until.timestamp())


def parse_disable_until(value: Any, now: float) -> tuple[bool, datetime | None]:
    """`disable_until_ts` as (enabled, disabled until); raises ValueError with HMA's text.

    JSON numbers are truncated, booleans are 1 and 0, strings must hold an integer.
    """
    if isinstance(value, bool | int | float):
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"Invalid int: {value!r}") from None
    else:
        raise ValueError(f"Invalid int: {value!r}")
    if number < 0:
        raise ValueError("disable_until_ts must be a non-negative integer")
    if number > now + MAX_DISABLE_SECONDS:
        raise ValueError("disable_until_ts must be less than 5 years in the future")
    if number == 1 or (number > 1 and number <= now):
        return True, None
    if number == 0:
        return False, None
    return False, datetime.fromtimestamp(number, UTC)


def parse_note(value: Any) -> str | None:
    """A note as HMA takes it (empty or null: none); raises ValueError with HMA's text."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("note should be a string")
    if len(value) > MAX_NOTE:
        raise ValueError(f"note must be at most {MAX_NOTE} characters")
    return value


# Metadata ----------------------------------------------------------------------------


class BankedContentMetadata(BaseModel):
    """The metadata HMA lets a caller attach to content: strict, but for `collab`,
    which is the exchange's and silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True)

    content_id: str | None = None
    content_uri: str | None = None
    json_object: dict[str, Any] | None = Field(None, alias="json")
    collab: Any = None


def parse_metadata(value: Any) -> dict[str, Any]:
    """The metadata to store (nulls and `collab` left out); ValueError with HMA's text."""
    if not isinstance(value, dict):
        raise ValueError("metadata should be a json object")
    try:
        parsed = BankedContentMetadata.model_validate(value)
    except ValidationError as exc:
        raise ValueError(f"Invalid metadata: {exc}") from None
    return parsed.model_dump(exclude={"collab"}, exclude_none=True, by_alias=True)


def shown_metadata(content: BankContent, exchange_name: str | None) -> dict[str, Any] | None:
    """GET's `metadata`: all four members, or None when there is nothing to show."""
    stored = content.details or {}
    collab = None
    if exchange_name is not None and content.upstream_id is not None:
        collab = {exchange_name: [content.upstream_id]}
    user = {key: stored.get(key) for key in ("content_id", "content_uri", "json")}
    if collab is None and not any(value is not None for value in user.values()):
        return None
    return {"collab": collab, **user}


def user_metadata(content: BankContent) -> dict[str, Any] | None:
    """The caller's metadata as HMA stored it (PUT's `user_metadata`)."""
    stored = content.details or {}
    user: dict[str, Any] = {
        key: stored[key] for key in ("content_id", "content_uri", "json") if key in stored
    }
    return user or None


def hma_signals(content: BankContent) -> dict[str, str]:
    """The content's signals of the types HMA knows, by HMA's names."""
    return {
        OURS_TO_HMA[s.signal_type]: s.value for s in content.signals if s.signal_type in OURS_TO_HMA
    }
