"""The registry of signal types and hashers, open to plugins.

A plugin is an installed package that declares an entry point in the
`hma.plugins` group pointing at a function `register(registry)`; that function
calls `add_signal_type` / `add_hasher`. Nothing else in the system names
concrete signal types, so a plugin's types flow through hashing, matching,
banks and the API unchanged.

A plugin that fails to load, or whose `register` raises, is logged, listed
in `Registry.failures` and left out whole (whatever it registered before
failing is taken back): one broken package never stops the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from core.errors import UnknownSignalType
from core.plugins import BUILT_IN, PluginFailure, plugin_origin
from hashers.account_keys import NO_KEYS, AccountKeys
from hashers.base import Hasher, HashingConfig
from hashers.digests import MD5_HASHER, SHA256_HASHER
from hashers.media import Media
from hashers.perceptual import perceptual_hashers
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
    Signal,
    SignalType,
)
from hashers.stills import PDQHasher
from hashers.vpdq import VPDQ, VPDQHasher

PLUGIN_GROUP = "hma.plugins"

log = logging.getLogger(__name__)


#: The signal types every registry starts with, by name.
BUILT_IN_TYPES: Mapping[str, SignalType] = {
    t.name: t for t in (PDQ, VPDQ, MD5, SHA256, URL, DOMAIN, ACCOUNT, KEYWORD, PHASH, DHASH)
}


class Registry:
    """Signal types by name, and the hashers that produce them, in order."""

    def __init__(self) -> None:
        self._types: dict[str, SignalType] = {}
        self._hashers: list[Hasher] = []
        #: Where each signal type and hasher came from ("built in", or the plugin),
        #: by ("signal type" or "hasher", name).
        self.origins: dict[tuple[str, str], str] = {}
        self.failures: list[PluginFailure] = []
        #: The deployment's account keys, which keyable types are keyed with.
        self.account_keys = NO_KEYS
        self._adding_for = BUILT_IN

    def add_signal_type(self, signal_type: SignalType) -> None:
        existing = self._types.get(signal_type.name)
        if existing is not None and existing is not signal_type:
            raise ValueError(f"signal type {signal_type.name!r} is already registered")
        if existing is None:
            self.origins["signal type", signal_type.name] = self._adding_for
        self._types[signal_type.name] = signal_type

    def add_hasher(self, hasher: Hasher) -> None:
        self.add_signal_type(hasher.signal_type)
        self._hashers.append(hasher)
        self.origins["hasher", hasher_name(hasher)] = self._adding_for

    def install(self, register: Callable[[Registry], None], origin: str) -> None:
        """Run `register(self)`, recording `origin` for all it adds: the one path the
        project's own types and hashers take, as every plugin's do."""
        self._adding_for = origin
        try:
            register(self)
        finally:
            self._adding_for = BUILT_IN

    def load_plugin(self, entry_point: EntryPoint) -> bool:
        """Load one plugin; on any failure, log it, take back what it added, and go on."""
        kept = dict(self._types), list(self._hashers), dict(self.origins)
        try:
            self.install(entry_point.load(), plugin_origin(entry_point))
        except Exception as exc:  # a plugin's bug must not stop the service
            self._types, self._hashers, self.origins = dict(kept[0]), list(kept[1]), kept[2]
            self.failures.append(PluginFailure(PLUGIN_GROUP, entry_point.name, repr(exc)))
            log.error("plugin %s left out: it failed to load: %r", entry_point.name, exc)
            return False
        return True

    @property
    def signal_types(self) -> Mapping[str, SignalType]:
        return dict(self._types)

    @property
    def hashers(self) -> tuple[Hasher, ...]:
        return tuple(self._hashers)

    def signal_type(self, name: str) -> SignalType:
        try:
            return self._types[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._types))
            raise UnknownSignalType(f"unknown signal type {name!r}; known types: {known}") from None

    def parse(self, type_name: str, value: str) -> Signal:
        """A signal from caller-supplied text, normalised; raises on bad input."""
        signal_type = self.signal_type(type_name)
        return Signal(type=signal_type.name, value=signal_type.normalize(value))

    def hash_bytes(
        self, data: bytes, config: HashingConfig, path: Path | None = None
    ) -> list[Signal]:
        """Every signal the registered hashers produce for one file's bytes.

        `path`, when the bytes came from a file, spares video decoding a copy.
        """
        media = Media(data, config.limits, path)
        return [h.hash(media, config) for h in self._hashers if media.kind in h.media_kinds]


def default_registry(
    load_plugins: bool = True,
    extra_hashers: Iterable[str] = (),
    account_keys: Mapping[str, bytes] | None = None,
) -> Registry:
    """The built-in types and hashers, the optional `extra_hashers`, and installed plugins.

    `extra_hashers` names optional hashers to turn on ("phash", "dhash");
    `account_keys` are the secrets keyed accounts are hashed with, by key name.
    """
    registry = Registry()
    registry.account_keys = AccountKeys(account_keys)
    registry.install(partial(register_built_ins, extra_hashers=tuple(extra_hashers)), BUILT_IN)
    if load_plugins:
        for entry_point in entry_points(group=PLUGIN_GROUP):
            log.info("loading hma plugin %s", entry_point.name)
            registry.load_plugin(entry_point)
    return registry


def register_built_ins(registry: Registry, extra_hashers: Iterable[str] = ()) -> None:
    """The project's own signal types and hashers, registered as a plugin's `register`
    registers its. Hashers run in this order, so signals come out in it."""
    for signal_type in BUILT_IN_TYPES.values():
        registry.add_signal_type(signal_type)
    registry.add_hasher(PDQHasher())
    wanted = list(extra_hashers)
    if wanted:
        available = perceptual_hashers()
        for name in wanted:
            if name not in available:
                raise ValueError(f"unknown extra hasher {name!r}; choose from {sorted(available)}")
            registry.add_hasher(available[name])
    registry.add_hasher(VPDQHasher())
    registry.add_hasher(MD5_HASHER)
    registry.add_hasher(SHA256_HASHER)


def hasher_name(hasher: Hasher) -> str:
    """A hasher as people know it: its class, and the type it produces."""
    return f"{type(hasher).__name__} ({hasher.signal_type.name})"
