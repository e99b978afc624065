"""The `hma` command line.

Commands that take `--json` print JSON and nothing else on stdout (one object
per input, as JSON lines); progress and logs go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click

from banks import store, transfer
from hashers import VPDQ, CodedError, Signal
from hashers.vpdq import reference_lines
from hma import batch
from hma.db import Database, SchemaOutdated, ensure_schema, upgrade
from hma.scan import Scanner, build_scanner
from hma.settings import Settings, SettingsError, load_settings
from hma.tokens import ROLES, create_token, list_tokens, revoke_token

F = TypeVar("F", bound=Callable[..., Any])


class Runtime:
    """Settings, database and scanner for one command, created on first use."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir

    @cached_property
    def settings(self) -> Settings:
        return load_settings(data_dir=self.data_dir)

    @cached_property
    def database(self) -> Database:
        database = Database(self.settings.resolved_database_url)
        ensure_schema(database.engine)
        return database

    @cached_property
    def scanner(self) -> Scanner:
        return build_scanner(self.settings)


def with_runtime(command: F) -> F:
    """Add `--data-dir` and pass a Runtime; turn known errors into clean messages."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="State directory (default: $HMA_DATA_DIR or ./hma-data).",
    )
    @click.pass_context
    def wrapped(ctx: click.Context, data_dir: str | None, **kwargs: Any) -> Any:
        try:
            return ctx.invoke(command, Runtime(data_dir), **kwargs)
        except (CodedError, SettingsError, SchemaOutdated) as exc:
            raise click.ClickException(str(exc)) from exc

    wrapped.__name__ = command.__name__
    wrapped.__doc__ = command.__doc__
    return wrapped  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="hma")
def main() -> None:
    """Hash uploads, match them against hash banks, and review every match."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_runtime
def serve(runtime: Runtime, host: str, port: int) -> None:
    """Run the API (and, as they arrive, the reviewer UI and scheduler)."""
    from hma.server import serve as run_server

    run_server(runtime.settings, host, port)


# hash / match / scan -------------------------------------------------------


def _describe_signal(signal: Signal) -> str:
    shown = signal.value if len(signal.value) <= 80 else f"{signal.value[:77]}..."
    text = f"{signal.type} {shown}"
    if signal.quality is not None:
        text += f" (quality {signal.quality}{'' if signal.usable else ', unusable'})"
    elif not signal.usable:
        text += " (unusable)"
    if "frames" in signal.extra:
        text += f" [{len(signal.extra['frames'])} frames]"
    return text


def _outcomes(runtime: Runtime, paths: tuple[str, ...]) -> Iterator[batch.HashOutcome]:
    """Hash every file named or under a directory named, with progress on stderr."""
    files = list(batch.expand(paths))
    workers = min(batch.worker_count(runtime.settings), len(files))
    outcomes = batch.hash_files(files, runtime.settings, runtime.scanner.registry, workers)
    # Results on a terminal are their own progress; a bar is for redirected output.
    if not (sys.stderr.isatty() and not sys.stdout.isatty()):
        yield from outcomes
        return
    with click.progressbar(outcomes, length=len(files), label="hashing", file=sys.stderr) as bar:
        yield from bar


def _run_over_files(
    runtime: Runtime,
    paths: tuple[str, ...],
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]] | None,
) -> None:
    """Hash each file, apply `act` to its signals, print a line each; exit 1 if any failed."""
    failed = 0
    for outcome in _outcomes(runtime, paths):
        if outcome.signals is None:
            failed += 1
            record: dict[str, Any] = {
                "path": outcome.path,
                "error": {"code": outcome.error_code, "message": outcome.error_message},
            }
        else:
            record = {"path": outcome.path, "signals": [s.to_dict() for s in outcome.signals]}
            if act is not None:
                record |= act(outcome.path, outcome.signals)
        if as_json:
            click.echo(json.dumps(record))
        else:
            _print_human(record, outcome.signals or [])
    if failed:
        click.echo(f"{failed} file(s) could not be hashed", err=True)
        sys.exit(1)


def _print_human(record: dict[str, Any], signals: list[Signal]) -> None:
    if "error" in record:
        click.echo(
            f"{record['path']}: error {record['error']['code']}: {record['error']['message']}"
        )
        return
    click.echo(f"{record['path']}:")
    for signal in signals:
        click.echo(f"  {_describe_signal(signal)}")
    for match in record.get("matches", []):
        variant = f" ({match['variant']})" if "variant" in match else ""
        click.echo(
            f"  match: bank {match['bank']} content {match['content_id']}"
            f" {match['signal_type']} distance {match['distance']}{variant}"
        )
    if record.get("case_id") is not None:
        click.echo(f"  case {record['case_id']}")


@main.command("hash")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@click.option(
    "--vpdq",
    "as_vpdq",
    is_flag=True,
    help="For videos, print the vPDQ reference's lines (frame,quality,pdq,timestamp).",
)
@with_runtime
def hash_command(runtime: Runtime, paths: tuple[str, ...], as_json: bool, as_vpdq: bool) -> None:
    """Print the signals of local images and videos; directories are walked."""
    if as_vpdq:
        _print_vpdq(runtime, paths)
        return
    _run_over_files(runtime, paths, as_json, act=None)


def _print_vpdq(runtime: Runtime, paths: tuple[str, ...]) -> None:
    failed = 0
    for outcome in _outcomes(runtime, paths):
        video = next((s for s in outcome.signals or [] if s.type == VPDQ.name), None)
        if video is None:
            failed += 1
            reason = outcome.error_message or "not a video or animation"
            click.echo(f"{outcome.path}: {reason}", err=True)
            continue
        click.echo(f"# {outcome.path}")
        for line in reference_lines(video):
            click.echo(line)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def match(runtime: Runtime, paths: tuple[str, ...], as_json: bool) -> None:
    """Hash files and look them up in every enabled bank, opening no case."""

    def look_up(_path: str, signals: list[Signal]) -> dict[str, Any]:
        with runtime.database.session() as session:
            found = runtime.scanner.match(session, signals)
        return {"matches": [m.to_dict() for m in found.matches]}

    _run_over_files(runtime, paths, as_json, act=look_up)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def scan(runtime: Runtime, paths: tuple[str, ...], as_json: bool) -> None:
    """Hash, match and open review cases; a file's content_ref is its absolute path."""

    def scan_one(path: str, signals: list[Signal]) -> dict[str, Any]:
        with runtime.database.session() as session:
            result = runtime.scanner.scan(session, signals, str(Path(path).resolve()))
        return {
            "matches": [m.to_dict() for m in result.matches],
            "case_id": result.case_id,
        }

    _run_over_files(runtime, paths, as_json, act=scan_one)


# bank ----------------------------------------------------------------------


@main.group()
def bank() -> None:
    """Create, list, fill, import and export banks."""


@bank.command("create")
@click.argument("name")
@click.option("--description", default="")
@with_runtime
def bank_create(runtime: Runtime, name: str, description: str) -> None:
    """Create an empty bank."""
    with runtime.database.session() as session:
        store.create_bank(session, name, description=description)
    click.echo(f"created bank {name}", err=True)


@bank.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def bank_list(runtime: Runtime, as_json: bool) -> None:
    """List banks with their content counts."""
    with runtime.database.session() as session:
        summaries = store.list_banks(session)
    for summary in summaries:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "name": summary.bank.name,
                        "enabled": summary.bank.enabled,
                        "content_count": summary.content_count,
                        "description": summary.bank.description,
                    }
                )
            )
        else:
            state = "" if summary.bank.enabled else " (disabled)"
            click.echo(f"{summary.bank.name}\t{summary.content_count}{state}")


@bank.command("add")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("--tag", "tags", multiple=True, help="Tag for every added item (repeatable).")
@with_runtime
def bank_add(runtime: Runtime, name: str, paths: tuple[str, ...], tags: tuple[str, ...]) -> None:
    """Hash files (directories are walked) and add each as one piece of content."""
    with runtime.database.session() as session:
        store.get_bank(session, name)  # fail before hashing anything
    failed = 0
    for outcome in _outcomes(runtime, paths):
        if outcome.signals is None:
            failed += 1
            click.echo(
                f"{outcome.path}: error {outcome.error_code}: {outcome.error_message}", err=True
            )
            continue
        usable = [s for s in outcome.signals if s.usable]
        with runtime.database.session() as session:
            content = store.add_content(
                session,
                store.get_bank(session, name),
                usable,
                tags=list(tags),
                metadata={"filename": Path(outcome.path).name},
                source="cli",
            )
        dropped = "" if len(usable) == len(outcome.signals) else " (unusable signals not added)"
        click.echo(f"{outcome.path}: content {content.id}{dropped}", err=True)
    if failed:
        sys.exit(1)


@bank.command("import")
@click.argument("name")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv", "lines"]),
    default="auto",
    show_default=True,
)
@with_runtime
def bank_import(runtime: Runtime, name: str, file: Any, fmt: Any) -> None:
    """Import signals from JSON lines, CSV or plain lines; bad lines are reported and skipped."""
    with runtime.database.session() as session:
        target = store.get_bank(session, name)
        report = transfer.import_records(
            session, runtime.scanner.registry, target, transfer.parse(file, fmt)
        )
    for error in report.errors:
        click.echo(f"line {error.line}: {error.message}", err=True)
    click.echo(
        f"imported {report.added}, skipped {report.duplicates} already present,"
        f" {len(report.errors)} bad lines",
        err=True,
    )


@bank.command("export")
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@with_runtime
def bank_export(runtime: Runtime, name: str, fmt: str) -> None:
    """Write the bank's signals to stdout as JSON lines (or CSV)."""
    with runtime.database.session() as session:
        records = transfer.export_records(session, store.get_bank(session, name))
        if fmt == "csv":
            for chunk in transfer.to_csv_rows(records):
                click.echo(chunk, nl=False)
        else:
            for record in records:
                click.echo(transfer.to_jsonl(record))


# token ---------------------------------------------------------------------


@main.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@with_runtime
def token_create(runtime: Runtime, name: str, role: str) -> None:
    """Print a new token, alone, on stdout (it is not shown again)."""
    with runtime.database.session() as session:
        secret = create_token(session, name, role)
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
    click.echo(f"revoked token {name}", err=True)


# db ------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@with_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Apply pending schema migrations (back up first)."""
    upgrade(Database(runtime.settings.resolved_database_url).engine)
    click.echo("database is up to date", err=True)
