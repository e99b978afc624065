"""Cryptographic digests of the file bytes: exact-match signals for any media."""

from __future__ import annotations

import hashlib

from hashers.base import Hasher, HashingConfig
from hashers.media import Media
from hashers.signals import MD5, SHA256, HexSignalType, Signal


class DigestHasher(Hasher):
    """A hashlib digest of the bytes as uploaded (no decoding involved)."""

    media_kinds = frozenset({"image", "animation", "video"})

    def __init__(self, signal_type: HexSignalType, algorithm: str) -> None:
        self.signal_type = signal_type
        self.algorithm = algorithm

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        digest = hashlib.new(self.algorithm, media.data, usedforsecurity=False)
        return Signal(type=self.signal_type.name, value=digest.hexdigest())


MD5_HASHER = DigestHasher(MD5, "md5")
SHA256_HASHER = DigestHasher(SHA256, "sha256")
