"""Encrypting secrets at rest (exchange credentials, TOTP secrets), and keys derived for signing.

The key comes from the `secret_key` setting. Without one, a random key is
created on first use in `<data_dir>/secret.key` (readable by its owner only);
deployments with several hosts sharing a database must set the same
`secret_key` on all of them. Losing the key means re-entering exchange
credentials, resetting every console user (`hma user reset`, which issues a
new password and authenticator secret) and signing everyone out; nothing
else depends on it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.errors import CredentialsUnreadable
from hma.private_files import private_folder
from hma.settings import Settings

KEY_FILE = "secret.key"


class SecretBox:
    """Authenticated encryption of short secrets (Fernet: AES-128-CBC plus HMAC-SHA256)."""

    def __init__(self, key_material: str) -> None:
        derived = hashlib.sha256(key_material.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def encrypt_bytes(self, data: bytes) -> bytes:
        """`data` sealed: what the database keeps of an upload kept to be reported."""
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise CredentialsUnreadable(
                "a kept upload cannot be decrypted: the secret key has changed"
            ) from None

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise CredentialsUnreadable(
                "stored credentials cannot be decrypted: the secret key has changed;"
                " set the old secret_key back or enter the credentials again"
            ) from None


def key_material(settings: Settings) -> str:
    """The deployment's secret: the `secret_key` setting, or the data dir's key file."""
    return settings.secret_key or _key_file(settings.data_dir / KEY_FILE)


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(key_material(settings))


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose (e.g. signing console sessions), independent of the others."""
    return hashlib.sha256(f"{purpose}:{key_material(settings)}".encode()).digest()


def _key_file(path: Path) -> str:
    """The key in `path`, created (owner-only) if it does not exist yet."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    private_folder(path.parent)
    key = secrets.token_urlsafe(32)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(handle, "w") as out:
        out.write(key + "\n")
    return key


def audit_chain_key(settings: Settings) -> bytes:
    """The key the audit log is chained with (outside the database, like every key here)."""
    return derived_key(settings, "audit-chain")
