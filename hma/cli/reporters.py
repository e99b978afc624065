"""`hma reporter`: the services confirmed cases are reported to (NCMEC's CyberTipline)."""

from __future__ import annotations

import json

import click

from actioners import reporter_admin
from hma.cli.base import CLI_ACTOR, Runtime, config_pairs, main, secret_given, with_runtime


@main.group()
def reporter() -> None:
    """Configure where confirmed cases are reported, and check the credentials."""


@reporter.command("add")
@click.argument("name")
@click.option("--type", "kind", required=True, help="The reporter type: cybertip, or a plugin's.")
@click.option(
    "--url",
    default=None,
    help="The service's address (default: the type's test environment, for cybertip"
    " https://exttest.cybertip.org/ispws; production must be named).",
)
@click.option(
    "--credentials",
    required=True,
    help="USER:PASSWORD as the service issued them; '-' reads them from stdin. Stored"
    " encrypted, sent only to --url's origin.",
)
@click.option(
    "--config",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reporter setting (repeatable): reporter_email, company_name, legal_url, ...",
)
@with_runtime
def reporter_add(
    runtime: Runtime,
    name: str,
    kind: str,
    url: str | None,
    credentials: str,
    pairs: tuple[str, ...],
) -> None:
    """Add a reporter."""
    with runtime.database.session() as session:
        added = reporter_admin.add_reporter(
            session,
            runtime.box.encrypt,
            runtime.egress.policy,
            CLI_ACTOR,
            name,
            kind,
            credentials=secret_given(credentials) or "",
            url=url,
            config=config_pairs(pairs),
        )
        state = reporter_admin.reporter_status(added)
    where = "PRODUCTION" if state["production"] else "a test environment"
    click.echo(f"added reporter {name}, reporting to {where} at {state['url']}", err=True)


@reporter.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def reporter_list(runtime: Runtime, as_json: bool) -> None:
    """The reporters and where each reports to."""
    with runtime.database.session() as session:
        states = [reporter_admin.reporter_status(r) for r in reporter_admin.all_reporters(session)]
    for state in states:
        if as_json:
            click.echo(json.dumps(state))
        else:
            where = "production" if state["production"] else "test"
            click.echo(f"{state['name']:<24} {state['type']:<10} {where:<10} {state['url']}")


@reporter.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def reporter_status(runtime: Runtime, name: str, as_json: bool) -> None:
    """A reporter's settings, and whether the service takes its credentials now."""
    with runtime.database.session() as session:
        configured = reporter_admin.get_reporter(session, name)
        state = reporter_admin.reporter_status(configured)
        state["check"] = reporter_admin.check_reporter(
            configured, runtime.box.decrypt, runtime.egress
        )
    if as_json:
        click.echo(json.dumps(state))
    else:
        for key, value in state.items():
            click.echo(f"{key}: {value}")
    if not state["check"]["ok"]:
        raise SystemExit(1)


@reporter.command("remove")
@click.argument("name")
@with_runtime
def reporter_remove(runtime: Runtime, name: str) -> None:
    """Remove a reporter and its sealed credentials."""
    with runtime.database.session() as session:
        reporter_admin.remove_reporter(session, CLI_ACTOR, name)
    click.echo(f"removed reporter {name}", err=True)
