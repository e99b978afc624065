"""Signal types and hashers: a pure library (no web framework, no database).

>>> from hashers import default_registry, HashingConfig
>>> registry = default_registry()
>>> signals = registry.hash_bytes(open("photo.jpg", "rb").read(), HashingConfig())
"""

from hashers.base import Hasher, HashingConfig
from hashers.errors import (
    CodedError,
    HashingError,
    InvalidSignal,
    MediaError,
    MediaTooLarge,
    UnknownSignalType,
)
from hashers.media import Media, MediaLimits
from hashers.registry import PLUGIN_GROUP, Registry, default_registry
from hashers.signals import MD5, PDQ, SHA256, HexSignalType, Signal, SignalType

__all__ = [
    "MD5",
    "PDQ",
    "PLUGIN_GROUP",
    "SHA256",
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
