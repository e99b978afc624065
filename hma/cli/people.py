"""`hma token` and `hma user`: API tokens and console accounts."""

from __future__ import annotations

import click

from accounts.tokens import ROLES, create_token, list_tokens, revoke_token
from accounts.users import (
    USER_ROLES,
    NewAccount,
    create_user,
    disable_user,
    list_users,
    reset_user,
    set_queues,
)
from database import audit
from hma.cli.base import CLI_ACTOR, Runtime, main, with_runtime
from hma.secrets import secret_box


@main.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--user",
    default=None,
    help="A personal token of this console user, acting as them (needed to decide and reveal).",
)
@click.option(
    "--bank",
    "banks",
    multiple=True,
    help="For an exchange token: a published bank it may read (repeat for more).",
)
@with_runtime
def token_create(
    runtime: Runtime, name: str, role: str, user: str | None, banks: tuple[str, ...]
) -> None:
    """Print a new token, alone, on stdout (it is not shown again)."""
    with runtime.database.session() as session:
        secret = create_token(session, name, role, user=user, banks=banks)
        details = {
            "role": role,
            **({"user": user} if user else {}),
            **({"banks": list(banks)} if banks else {}),
        }
        audit.record(session, CLI_ACTOR, audit.TOKEN_CREATE, name, details)
    click.echo(secret)


@token.command("list")
@with_runtime
def token_list(runtime: Runtime) -> None:
    """Token names, roles and last use (never the secrets)."""
    with runtime.database.session() as session:
        for item in list_tokens(session):
            state = "revoked" if item.revoked_at else "active"
            used = item.last_used_at.isoformat() if item.last_used_at else "never"
            click.echo(f"{item.name}\t{item.role}\t{state}\tlast used {used}")


@token.command("revoke")
@click.argument("name")
@with_runtime
def token_revoke(runtime: Runtime, name: str) -> None:
    """Revoke a token by name; requests using it fail from now on."""
    with runtime.database.session() as session:
        revoke_token(session, name)
        audit.record(session, CLI_ACTOR, audit.TOKEN_REVOKE, name)
    click.echo(f"revoked token {name}", err=True)


def print_new_account(account: NewAccount) -> None:
    """The one-time credentials of a new console account, for its owner."""
    click.echo(f"username: {account.username}")
    click.echo(f"role: {account.role}")
    click.echo(f"password: {account.password}")
    click.echo(f"totp secret: {account.totp_secret}")
    click.echo(f"totp uri: {account.totp_uri}")


@main.group()
def user() -> None:
    """Console accounts: reviewers, curators and admins who sign in with a password and TOTP."""


@user.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@with_runtime
def user_create(runtime: Runtime, username: str, role: str) -> None:
    """Create an account; prints its password and authenticator secret once."""
    with runtime.database.session() as session:
        account = create_user(session, username, role, secret_box(runtime.settings))
    print_new_account(account)
    click.echo(
        "Add the TOTP secret (or URI) to an authenticator app; it is not shown again.", err=True
    )


@user.command("queues")
@click.argument("username")
@click.argument("queues", nargs=-1)
@with_runtime
def user_queues(runtime: Runtime, username: str, queues: tuple[str, ...]) -> None:
    """Set the review queues USERNAME belongs to (none given: only the default queue).

    Escalated cases are opened only by their queue's members, the reviewer
    they were sent to, and admins.
    """
    with runtime.database.session() as session:
        set_queues(session, username, list(queues))
    shown = ", ".join(queues) or "(the default queue only)"
    click.echo(f"{username}: {shown}", err=True)


@user.command("reset")
@click.argument("username")
@with_runtime
def user_reset(runtime: Runtime, username: str) -> None:
    """New password and authenticator secret, printed once; unlocks and re-enables."""
    with runtime.database.session() as session:
        account = reset_user(session, username, secret_box(runtime.settings))
    print_new_account(account)


@user.command("disable")
@click.argument("username")
@with_runtime
def user_disable(runtime: Runtime, username: str) -> None:
    """Refuse this account's sign-ins from now on (its sessions end too)."""
    with runtime.database.session() as session:
        disable_user(session, username)
    click.echo(f"disabled {username}", err=True)


@user.command("list")
@with_runtime
def user_list(runtime: Runtime) -> None:
    """Usernames, roles, whether the account is active, and the last sign-in."""
    with runtime.database.session() as session:
        for item in list_users(session):
            last = item.last_login_at.isoformat() if item.last_login_at else "never"
            state = "disabled" if item.disabled_at else "active"
            click.echo(f"{item.username}\t{item.role}\t{state}\tlast sign-in {last}")
