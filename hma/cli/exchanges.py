"""`hma exchange`: following exchanges, syncing them, their status."""

from __future__ import annotations

import json

import click

from hma.cli.base import CLI_ACTOR, Runtime, config_pairs, main, secret_given, with_runtime


@main.group()
def exchange() -> None:
    """Connect banks to signal exchanges, sync them, and see how they are doing."""


@exchange.command("add")
@click.argument("name")
@click.option(
    "--type",
    "kind",
    required=True,
    help="The adapter: list, hma, threatexchange, ncmec, stopncii or a plugin's (hma plugins).",
)
@click.option("--bank", required=True, help="The bank the exchange fills.")
@click.option("--url", default=None, help="Where the exchange is (a list's file or URL).")
@click.option(
    "--interval", default=3600, show_default=True, type=int, help="Seconds between syncs."
)
@click.option(
    "--config",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Adapter setting (repeatable), e.g. privacy_group=123.",
)
@click.option(
    "--credentials",
    default=None,
    help="The exchange's secret; '-' reads it from stdin. Stored encrypted.",
)
@click.option("--no-feedback", is_flag=True, help="Never send this exchange feedback.")
@with_runtime
def exchange_add(
    runtime: Runtime,
    name: str,
    kind: str,
    bank: str,
    url: str | None,
    interval: int,
    pairs: tuple[str, ...],
    credentials: str | None,
    no_feedback: bool,
) -> None:
    """Follow an exchange with a bank."""
    with runtime.database.session() as session:
        runtime.exchanges.add(
            session,
            CLI_ACTOR,
            name,
            kind,
            bank,
            url=url,
            interval=interval,
            config=config_pairs(pairs),
            credentials=secret_given(credentials),
            feedback=not no_feedback,
        )
    click.echo(f"added exchange {name}; `hma exchange sync {name}` syncs it now", err=True)


@exchange.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def exchange_list(runtime: Runtime, as_json: bool) -> None:
    """Exchanges, their banks and how their last sync went."""
    with runtime.database.session() as session:
        states = [runtime.exchanges.status(e) for e in runtime.exchanges.all(session)]
    for state in states:
        if as_json:
            click.echo(json.dumps(state))
        else:
            health = "error: " + state["last_error"] if state["last_error"] else "ok"
            click.echo(
                f"{state['name']}\t{state['type']}\tbank {state['bank']}\t"
                f"last success {state['last_success_at'] or 'never'}\t{health}"
            )


@exchange.command("sync")
@click.argument("name")
@click.option("--full", is_flag=True, help="Read everything again and remove what is gone.")
@with_runtime
def exchange_sync(runtime: Runtime, name: str, full: bool) -> None:
    """Sync one exchange now, in the foreground; exit 0 on success."""
    with runtime.database.session() as session:
        runtime.exchanges.get(session, name)
    report = runtime.exchanges.sync(name, full=full)
    if not report.ran:
        raise click.ClickException(f"exchange {name} is being synced by another process")
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
    click.echo(
        f"{name}: {'full resync' if report.full else 'sync'}"
        f" {'done' if report.ok else 'failed'}; {counts or 'no changes'}",
        err=True,
    )
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if not report.ok:
        raise click.ClickException(str(report.error))


@exchange.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def exchange_status(runtime: Runtime, name: str, as_json: bool) -> None:
    """One exchange's configuration (never its credentials) and sync state."""
    with runtime.database.session() as session:
        state = runtime.exchanges.status(runtime.exchanges.get(session, name))
    if as_json:
        click.echo(json.dumps(state))
        return
    for key, value in state.items():
        click.echo(f"{key}: {json.dumps(value) if isinstance(value, dict | list) else value}")


@exchange.command("remove")
@click.argument("name")
@click.option(
    "--keep-content",
    is_flag=True,
    help="Keep what the exchange brought in (it will no longer be updated).",
)
@with_runtime
def exchange_remove(runtime: Runtime, name: str, keep_content: bool) -> None:
    """Stop following an exchange; its content is removed from the bank unless kept."""
    removed = runtime.exchanges.remove(name, keep_content=keep_content, actor=CLI_ACTOR)
    click.echo(
        f"removed exchange {name}" + (f" and {removed} item(s)" if removed else ""), err=True
    )
