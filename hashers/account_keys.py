"""Account signals kept as keyed hashes: HMAC-SHA256 of the normalised identifier
under a named key, so that a bank (or a program sharing with others) holds no
address, phone number or handle in clear text and still matches.

The keys come from the `account_keys` setting; the registry holds them
(`Registry.account_keys`), so that whoever parses and matches signals keys them
the same way, and two registries in one process never share secrets. A bank
naming a key turns every account given to it
into `keyed:<key>:<hex>`; a query's account is looked up both as it is and
keyed under each configured key. Without the key nothing can be matched or
read back: losing it means asking the program for its entries again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from core.errors import InvalidSignal
from hashers.accounts import KEY_NAME, KEYED
from hashers.signals import ACCOUNT, Signal

_NAME = re.compile(KEY_NAME)
#: The shortest secret a key may have, in bytes.
MIN_SECRET = 16


class UnknownAccountKey(InvalidSignal):
    code = "unknown_account_key"


def check_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UnknownAccountKey(
            "an account key name is 1 to 32 lower-case letters, digits, '-' or '_'"
        )
    return name


class AccountKeys:
    """The deployment's named account keys, fixed when made; secrets never leave it."""

    def __init__(self, secrets: Mapping[str, bytes] | None = None) -> None:
        for name, secret in (secrets or {}).items():
            check_key_name(name)
            if len(secret) < MIN_SECRET:
                raise ValueError(f"account key {name!r} is shorter than {MIN_SECRET} bytes")
        self._secrets: dict[str, bytes] = dict(secrets or {})

    def __repr__(self) -> str:
        return f"AccountKeys({sorted(self._secrets)})"

    def check(self, name: str) -> str:
        """`name`, if it is one of these keys; UnknownAccountKey otherwise."""
        if name not in self._secrets:
            raise UnknownAccountKey(
                f"account key {name!r} is not configured (setting account_keys)"
            )
        return name

    def keyed(self, value: str, name: str) -> str:
        """The keyed form of a normalised account value (already keyed values stay)."""
        if value.startswith(f"{KEYED}:"):
            return value
        secret = self._secrets.get(name)
        if secret is None:
            raise UnknownAccountKey(
                f"account key {name!r} is not configured (setting account_keys)"
            )
        digest = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
        return f"{KEYED}:{name}:{digest}"

    def variants(self, value: str) -> dict[str, str]:
        """A queried account's keyed forms, by variant name (`keyed:<key>`)."""
        if value.startswith(f"{KEYED}:"):
            return {}
        return {f"{KEYED}:{name}": self.keyed(value, name) for name in self._secrets}

    def protect(self, key_name: str | None, signals: Sequence[Signal]) -> list[Signal]:
        """`signals` as a bank keyed under `key_name` keeps them (None: unchanged)."""
        if key_name is None:
            return list(signals)
        return [
            replace(s, value=self.keyed(s.value, key_name)) if s.type == ACCOUNT.name else s
            for s in signals
        ]


def is_keyed(variant: str | None) -> bool:
    """Whether a lookup variant's name is that of a keyed hash."""
    return variant is not None and variant.startswith(f"{KEYED}:")


#: No key at all: what code that was handed no keys works with. A bank that names a
#: key then fails clearly (`UnknownAccountKey`) instead of keeping accounts in clear.
NO_KEYS = AccountKeys()
