"""Console accounts: Argon2id passwords, required TOTP, limits on failed sign-ins.

Reviewers sign in with three things: a username, a password and a code
from an authenticator app. Every failure looks the same to the person
trying (so a guesser learns nothing about which part was wrong), counts
towards the limits of the client's address (`accounts.sessions`), and is
written to the audit log. A TOTP code is accepted once, atomically: two
sign-ins racing with one observed code cannot both succeed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accounts import sessions as console_sessions
from accounts.models import User
from actioners.review import MAX_QUEUE
from core.errors import Conflict, InvalidInput, LoginFailed, RenewalRefused, UserNotFound
from core.names import Role
from database import audit, utcnow

USER_ROLES: tuple[str, ...] = tuple(r.value for r in (Role.ADMIN, Role.CURATOR, Role.REVIEWER))
ISSUER = "hma"
#: The one answer to every failed sign-in, refused ones included: it tells a
#: guesser nothing about which factor was wrong or whether the account exists.
SIGN_IN_FAILED = (
    "sign-in failed: check the username, password and code (after"
    f" {console_sessions.PAIR_LIMIT} failures, sign-in from this address pauses for"
    f" {console_sessions.WINDOW.seconds // 60} minutes)"
)
MAX_USERNAME = 100
#: Shortest password a user may choose (generated ones are 20 characters).
MIN_PASSWORD = 12

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


class SecretBox(Protocol):
    """Encrypts TOTP secrets at rest (the deployment's `hma.secrets.SecretBox`)."""

    def encrypt(self, secret: str) -> str: ...

    def decrypt(self, token: str) -> str: ...


@dataclass(frozen=True)
class NewAccount:
    """What a new account's owner needs once: never stored in this form."""

    username: str
    role: str
    password: str
    totp_secret: str

    @property
    def totp_uri(self) -> str:
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.username, issuer_name=ISSUER)


def has_users(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(User)))


def create_user(
    session: Session,
    username: str,
    role: str,
    box: SecretBox,
    actor: str = "cli",
    must_renew: bool = False,
) -> NewAccount:
    """A new account with a random password and TOTP secret, both returned once.

    `must_renew`: its first sign-in must choose a new password and authenticator
    (for secrets that passed through a file or a log on their way to their owner).
    """
    if not isinstance(username, str) or not username.strip() or len(username) > MAX_USERNAME:
        raise InvalidInput(f"a username is 1 to {MAX_USERNAME} characters")
    username = username.strip()
    if role not in USER_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(USER_ROLES)}", code="invalid_role")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named {username!r} exists", code="user_exists")
    account = NewAccount(username, role, secrets.token_urlsafe(15), pyotp.random_base32())
    session.add(
        User(
            username=username,
            role=role,
            password_hash=_hasher.hash(account.password),
            totp_secret=box.encrypt(account.totp_secret),
            wellness={},
            must_renew=must_renew,
        )
    )
    session.flush()
    audit.record(session, actor, audit.USER_CREATE, f"user:{username}", {"role": role})
    return account


def find_user(session: Session, username: str | None) -> User | None:
    """The console account called `username`, or None (also for no name at all)."""
    if username is None:
        return None
    return session.scalar(select(User).where(User.username == username))


def _find(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserNotFound(f"no user named {username!r}")
    return user


def reset_user(session: Session, username: str, box: SecretBox, actor: str = "cli") -> NewAccount:
    """New password and TOTP secret (a lost phone, a new secret key), returned once;
    the account is unlocked and enabled again."""
    user = _find(session, username)
    account = NewAccount(user.username, user.role, secrets.token_urlsafe(15), pyotp.random_base32())
    user.password_hash = _hasher.hash(account.password)
    user.totp_secret, user.totp_last_step = box.encrypt(account.totp_secret), 0
    user.disabled_at = None
    console_sessions.end_all(session, user)
    audit.record(session, actor, audit.USER_CHANGE, f"user:{username}", {"change": "reset"})
    return account


def set_queues(session: Session, username: str, queues: list[str], actor: str = "cli") -> None:
    """The review queues the user belongs to, beyond the default one and their own."""
    user = _find(session, username)
    for queue in queues:
        if not queue.strip() or len(queue) > MAX_QUEUE:
            raise InvalidInput(f"a queue name is 1 to {MAX_QUEUE} characters")
    user.queues = sorted({queue.strip() for queue in queues})
    audit.record(session, actor, audit.USER_CHANGE, f"user:{username}", {"queues": user.queues})


def disable_user(session: Session, username: str, actor: str = "cli") -> None:
    """Sign-in refused from now on, and every open console session ended."""
    user = _find(session, username)
    user.disabled_at = utcnow()
    console_sessions.end_all(session, user)
    audit.record(session, actor, audit.USER_CHANGE, f"user:{username}", {"change": "disabled"})


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate(
    session: Session, username: str, password: str, code: str, box: SecretBox, address: str
) -> User:
    """The user, if all three factors are right and `address` may still try; else an error.

    Failures are recorded in the caller's transaction, which must be committed
    even when this raises (the console does), or the limits would never count.
    """
    if console_sessions.refused_for(session, username, address):
        # Refused before any hashing: an address past its limit costs nothing.
        audit.record(
            session,
            "anonymous",
            audit.USER_LOGIN_FAILED,
            f"user:{username[:100]}",
            {"address": address, "refused": True},
        )
        raise LoginFailed(SIGN_IN_FAILED)
    user = session.scalar(select(User).where(User.username == username))
    who = f"user:{username[:100]}"
    step = None
    if user is None or user.disabled_at is not None:
        _hasher_dummy_work(password)
    elif _password_ok(user, password):
        step = _totp_step(user, code, box)
    if user is None or step is None or not _spend_code(session, user, step):
        console_sessions.record_failure(session, username, address)
        audit.record(session, "anonymous", audit.USER_LOGIN_FAILED, who, {"address": address})
        if console_sessions.refused_for(session, username, address):
            audit.record(session, "anonymous", audit.USER_LOCKED, who, {"address": address})
        raise LoginFailed(SIGN_IN_FAILED)
    user.last_login_at = utcnow()
    audit.record(session, f"user:{user.username}", audit.USER_LOGIN, who, {"address": address})
    return user


def _spend_code(session: Session, user: User, step: int) -> bool:
    """Mark the code's time step used, unless a concurrent sign-in already did."""
    spent = session.execute(
        update(User)
        .where(User.id == user.id, User.totp_last_step < step)
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if int(spent.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(user, ["totp_last_step"])
    return True


def _password_ok(user: User, password: str) -> bool:
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _hasher_dummy_work(password: str) -> None:
    """Spend what a real check costs, so response times do not reveal unknown usernames."""
    _hasher.hash(password)


def _totp_step(user: User, code: str, box: SecretBox) -> int | None:
    """The time step `code` belongs to, if not used before on this account."""
    return _code_step(box.decrypt(user.totp_secret), code, after=user.totp_last_step)


def _code_step(secret: str, code: str, after: int) -> int | None:
    """The time step (now or one either side) `code` belongs to under `secret`, if
    it is later than `after`."""
    if not isinstance(code, str) or not code.strip().isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=offset * totp.interval)
        if totp.verify(code.strip(), for_time=moment):
            step = int(totp.timecode(moment))
            return step if step > after else None
    return None


def renew_account(
    session: Session,
    user: User,
    password: str,
    repeat: str,
    code: str,
    totp_secret: str,
    box: SecretBox,
    keep_session: str,
) -> None:
    """Replace the account's password and TOTP secret with ones only its owner has seen,
    ending every other session of the account (`keep_session` is the caller's).

    The code must come from the new secret, proving the authenticator holds it.
    """
    if len(password) < MIN_PASSWORD:
        raise RenewalRefused(f"the new password needs at least {MIN_PASSWORD} characters")
    if password != repeat:
        raise RenewalRefused("the two passwords differ")
    if _password_ok(user, password):
        raise RenewalRefused("choose a password other than the one you signed in with")
    step = _code_step(totp_secret, code, after=0)
    if step is None:
        raise RenewalRefused("the code does not match the new authenticator secret")
    user.password_hash = _hasher.hash(password)
    user.totp_secret, user.totp_last_step = box.encrypt(totp_secret), step
    user.must_renew = False
    who = f"user:{user.username}"
    audit.record(session, who, audit.USER_CHANGE, who, {"change": "renewed"})
    console_sessions.end_all(session, user, keep=keep_session)


def set_wellness(session: Session, user: User, wellness: dict[str, Any]) -> None:
    user.wellness = dict(wellness)
    who = f"user:{user.username}"
    audit.record(session, who, audit.USER_CHANGE, who, {"wellness": wellness})
