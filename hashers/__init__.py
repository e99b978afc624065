"""Signal types and hashers: a pure library (no web framework, no database).

>>> from hashers import default_registry, HashingConfig
>>> registry = default_registry()
>>> signals = registry.hash_bytes(open("photo.jpg", "rb").read(), HashingConfig())
"""

import hashers._numba_cache  # noqa: F401 - first: it tells numba where to cache
from core.errors import (
    CodedError,
    HashingError,
    InvalidSignal,
    MediaError,
    MediaTooLarge,
    UnknownSignalType,
)
from hashers.base import Hasher, HashingConfig
from hashers.media import Media, MediaLimits
from hashers.registry import PLUGIN_GROUP, Registry, default_registry
from hashers.signals import (
    ACCOUNT,
    DHASH,
    DOMAIN,
    KEYWORD,
    MD5,
    PDQ,
    PHASH,
    SHA256,
    URL,
    HexSignalType,
    Signal,
    SignalType,
)
from hashers.vpdq import VPDQ

__all__ = [
    "ACCOUNT",
    "DHASH",
    "DOMAIN",
    "KEYWORD",
    "MD5",
    "PDQ",
    "PHASH",
    "PLUGIN_GROUP",
    "SHA256",
    "URL",
    "VPDQ",
    "CodedError",
    "Hasher",
    "HashingConfig",
    "HashingError",
    "HexSignalType",
    "InvalidSignal",
    "Media",
    "MediaError",
    "MediaLimits",
    "MediaTooLarge",
    "Registry",
    "Signal",
    "SignalType",
    "UnknownSignalType",
    "default_registry",
]
