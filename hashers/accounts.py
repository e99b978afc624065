"""Account identifiers as sharing programs exchange them, each kind in one spelling.

An account signal is `kind:value`, the kind one of `email`, `username`,
`phone` and `payment`. Two spellings that reach the same account must give
the same value, and two accounts must never share one, so each rule below
folds only what the service itself ignores:

- `email`: the domain lower-cased (international names to punycode); the
  local part lower-cased, as every large provider treats it. Dots are
  dropped and `+tags` cut only for providers that ignore them (see
  `IGNORES_DOTS` and `IGNORES_PLUS_TAGS`); `googlemail.com` is `gmail.com`.
- `username`: `platform:name`; the platform lower-cased, the name NFKC-folded
  and case-folded, a leading `@` dropped (handles are case-blind on the
  platforms that share them).
- `phone`: E.164 (`+` and up to 15 digits), parsed and checked against the
  numbering plans with `phonenumbers`; a number without a country code is
  refused rather than guessed.
- `payment`: `provider:handle`; the provider lower-cased, the handle
  case-folded with a leading `$` or `@` (Cash App's cashtags, Venmo's
  handles) dropped.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from core.errors import InvalidSignal

KINDS = ("email", "username", "phone", "payment")
#: The prefix of accounts kept as keyed hashes, and the names keys may have.
KEYED = "keyed"
KEY_NAME = r"[a-z0-9][a-z0-9_-]{0,31}"
_KEYED = re.compile(rf"{KEYED}:{KEY_NAME}:[0-9a-f]{{64}}")
#: Providers whose mailboxes ignore dots in the local part.
IGNORES_DOTS = frozenset({"gmail.com"})
#: Providers that deliver `name+tag@` to `name@`.
IGNORES_PLUS_TAGS = frozenset(
    {
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
    }
)
#: Domains that are another's alias.
EMAIL_ALIASES = {"googlemail.com": "gmail.com"}
#: A platform's or provider's name: what `platform:` and `provider:` take.
SCOPE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\\\]]{1,64}")
_LABEL = re.compile(r"(?!-)[a-z0-9\-]{1,63}(?<!-)")
MAX_NAME = 256


class InvalidAccount(InvalidSignal):
    """An account identifier that its kind's rules refuse; `code` says which kind."""


def normalize_account(kind: str, value: str) -> str:
    """`kind:value` in its one spelling; InvalidAccount (with a code per kind) if it has none."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidAccount(
            f"account type must be one of {', '.join(KINDS)}", code="invalid_account_type"
        )
    if not isinstance(value, str) or not value.strip():
        raise InvalidAccount(f"an {kind} value must be non-empty text", code=f"invalid_{kind}")
    text = value.strip()
    if kind == "email":
        return f"email:{email(text)}"
    if kind == "phone":
        return f"phone:{phone(text)}"
    return f"{kind}:{scoped_handle(kind, text)}"


def parse_account(value: str) -> str:
    """A stored account signal (`kind:rest`) checked and normalised by its kind."""
    kind, colon, rest = value.strip().partition(":") if isinstance(value, str) else ("", "", "")
    if not colon:
        raise InvalidAccount(
            "an account value is `kind:identifier`, kind one of " + ", ".join(KINDS),
            code="invalid_account_type",
        )
    if kind.lower() == KEYED:
        return keyed_value(rest)
    return normalize_account(kind.lower(), rest)


def keyed_value(rest: str) -> str:
    """A keyed account (`keyed:<key name>:<HMAC-SHA256 hex>`, see `hashers.account_keys`),
    as a bank keeps it or a program shares it: checked, never keyed again."""
    stored = f"{KEYED}:{rest.strip().lower()}"
    if not _KEYED.fullmatch(stored):
        raise InvalidAccount(
            "a keyed account is keyed:<key name>:<64 hex digits of HMAC-SHA256>",
            code="invalid_keyed_account",
        )
    return stored


def email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidAccount(f"{text!r} is not an email address", code="invalid_email")
    checked = _domain(domain)
    if checked is None:
        raise InvalidAccount(f"{text!r} has no valid email domain", code="invalid_email")
    domain = EMAIL_ALIASES.get(checked, checked)
    local = local.lower()
    if not _LOCAL.fullmatch(local):
        raise InvalidAccount(f"{text!r} has no valid mailbox name", code="invalid_email")
    if domain in IGNORES_PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in IGNORES_DOTS:
        local = local.replace(".", "")
    if not local:
        raise InvalidAccount(f"{text!r} has no mailbox name left", code="invalid_email")
    return f"{local}@{domain}"


def _domain(text: str) -> str | None:
    """A mail domain in lower-case ASCII (punycode), or None if it cannot be one."""
    try:
        ascii_name = text.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return ascii_name


def phone(text: str) -> str:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidAccount(
            f"{text!r} is not a phone number in E.164 form (+ and country code)",
            code="invalid_phone",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAccount(f"{text!r} is not a valid phone number", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def scoped_handle(kind: str, text: str) -> str:
    """`scope:handle` for usernames (scope: platform) and payments (scope: provider)."""
    scope, colon, handle = text.partition(":")
    scope = scope.strip().lower()
    code = f"invalid_{kind}"
    word = "platform" if kind == "username" else "provider"
    if not colon or not SCOPE.fullmatch(scope):
        raise InvalidAccount(f"a {kind} is `{word}:name`, got {text!r}", code=code)
    handle = unicodedata.normalize("NFKC", handle.strip()).casefold()
    handle = handle.lstrip("@$" if kind == "payment" else "@")
    if not handle or len(handle) > MAX_NAME or any(c.isspace() for c in handle):
        raise InvalidAccount(
            f"a {kind}'s name must be 1 to {MAX_NAME} characters without spaces", code=code
        )
    return f"{scope}:{handle}"
