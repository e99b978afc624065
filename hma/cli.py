"""The `hma` command line.

Commands that take `--json` print JSON and nothing else on stdout (one object
per input, as JSON lines); progress and logs go to stderr.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

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
from actioners import retention, review
from actioners.scan import Scanner
from banks import curation, hma_import, store, transfer
from banks.egress import Egress
from banks.exchanges import adapter_failures, adapter_origins
from banks.taxonomy import Taxonomy
from core.errors import (
    BankExists,
    CheckpointsUnreadable,
    CodedError,
    HashingError,
    InvalidInput,
    SchemaOutdated,
    SettingsError,
)
from database import audit
from hashers import KEYWORD, VPDQ, Signal, default_registry
from hashers.posts import AccountRef, Post, post_signals
from hashers.vpdq import reference_lines
from hma import batch
from hma.assembly import build_egress, build_scanner, load_taxonomy
from hma.audit_anchor import AuditAnchor
from hma.db import Database, ensure_schema, open_database, upgrade
from hma.exchanges import Exchanges
from hma.private_files import private_folder
from hma.scheduler import send_webhooks
from hma.secrets import secret_box
from hma.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
#: Who the audit log says acted, for changes made with the CLI.
CLI_ACTOR = "cli"


class Runtime:
    """Settings, database and scanner for one command, created on first use."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir

    @cached_property
    def settings(self) -> Settings:
        return load_settings(data_dir=self.data_dir)

    @cached_property
    def database(self) -> Database:
        private_folder(self.settings.data_dir)
        database = open_database(self.settings)
        ensure_schema(database.engine)
        return database

    @cached_property
    def scanner(self) -> Scanner:
        return build_scanner(self.settings, taxonomy=self.taxonomy)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.settings)

    @cached_property
    def exchanges(self) -> Exchanges:
        return Exchanges.build(
            self.settings,
            self.database,
            self.scanner.registry,
            self.taxonomy,
            secret_box(self.settings),
            self.egress,
        )

    @cached_property
    def egress(self) -> Egress:
        return build_egress(self.settings)


def with_runtime(command: F) -> F:
    """Add `--data-dir` and pass a Runtime; turn known errors into clean messages."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="State directory (default: $HMA_DATA_DIR or ./hma-data).",
    )
    @click.pass_context
    def wrapped(ctx: click.Context, /, data_dir: str | None, **kwargs: Any) -> Any:
        try:
            return ctx.invoke(command, Runtime(data_dir), **kwargs)
        except (CodedError, SettingsError, SchemaOutdated, CheckpointsUnreadable) as exc:
            raise click.ClickException(str(exc)) from exc

    wrapped.__name__ = command.__name__
    wrapped.__doc__ = command.__doc__
    return wrapped  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="hma")
def main() -> None:
    """Hash uploads, match them against hash banks, and review every match."""
    # What the service writes holds abuse signals or comes from them (the database,
    # index snapshots, locks, checkpoints, exports): readable by its own user only,
    # whatever the mode of a data dir that existed before.
    os.umask(0o077)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Request worker processes (default: the serve_workers setting, else one per core).",
)
@click.option(
    "--role",
    type=click.Choice(["all", "api", "jobs"]),
    default="all",
    show_default=True,
    help="api: requests only; jobs: background jobs only (one active across hosts); all: both.",
)
@with_runtime
def serve(runtime: Runtime, host: str, port: int, workers: int | None, role: str) -> None:
    """Run the API and reviewer console, the background jobs, or both."""
    from hma.server import serve as run_server

    run_server(runtime.settings, host, port, workers, role)


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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@with_runtime
def plugins(runtime: Runtime, as_json: bool) -> None:
    """List the signal types, hashers and exchange adapters, and where each came from.

    Plugins that failed to load are listed too, with the error; they are left out
    of the service, which runs without them. Exits 1 when one failed.
    """
    registry = default_registry(extra_hashers=runtime.settings.extra_hasher_names)
    parts = [
        {"kind": kind, "name": name, "origin": origin}
        for (kind, name), origin in registry.origins.items()
    ]
    parts += [
        {"kind": "exchange", "name": name, "origin": origin}
        for name, origin in sorted(adapter_origins().items())
    ]
    failed = [vars(f) for f in [*registry.failures, *adapter_failures()]]
    if as_json:
        click.echo(json.dumps({"plugins": parts, "failed": failed}))
    else:
        for part in parts:
            click.echo(f"{part['kind']:<12} {part['name']:<28} {part['origin']}")
        for failure in failed:
            click.echo(f"FAILED {failure['group']} {failure['name']}: {failure['error']}", err=True)
    if failed:
        sys.exit(1)


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


def post_options(command: F) -> F:
    """Options naming a post's text, links and accounts, beside or instead of files;
    the command receives them as one `post`."""

    @functools.wraps(command)
    def with_post(
        *,
        text: str | None,
        text_file: Path | None,
        urls: tuple[str, ...],
        accounts: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        return command(post=_post(text, text_file, urls, accounts), **kwargs)

    options = [
        click.option("--text", help="A post's text: keywords, and links found in it."),
        click.option(
            "--text-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read the post's text from a UTF-8 file.",
        ),
        click.option("--url", "urls", multiple=True, help="A link of the post (repeatable)."),
        click.option(
            "--account",
            "accounts",
            multiple=True,
            metavar="TYPE:VALUE",
            help="An account of the post, email:..., username:platform:name,"
            " phone:+..., payment:provider:handle (repeatable).",
        ),
    ]
    decorated: Any = with_post
    for option in reversed(options):
        decorated = option(decorated)
    return cast(F, decorated)


def _post(
    text: str | None, text_file: Path | None, urls: tuple[str, ...], accounts: tuple[str, ...]
) -> Post:
    if text is not None and text_file is not None:
        raise click.UsageError("give --text or --text-file, not both")
    if text_file is not None:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"cannot read {text_file}: {exc}") from None
    refs = []
    for account in accounts:
        kind, colon, value = account.partition(":")
        if not colon:
            raise click.UsageError(f"--account {account!r} is not TYPE:VALUE")
        refs.append(AccountRef(kind, value))
    return Post(text=text, urls=urls, accounts=refs)


def _run_post(
    runtime: Runtime,
    post: Post,
    label: str,
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]],
) -> None:
    """Look a post up as `act` does a file's signals; bad input exits 2 with its code."""
    try:
        signals = post_signals(post, runtime.settings.max_text_bytes)
    except HashingError as exc:
        click.echo(f"{label}: error {exc.code}: {exc.message}", err=True)
        sys.exit(2)
    record = {"path": label} | act(label, signals)
    if as_json:
        click.echo(json.dumps(record))
    else:
        # The post's text is not echoed back: only the other signals are listed.
        _print_human(record, [s for s in signals if s.type != KEYWORD.name])


def _files_and_post(
    runtime: Runtime,
    paths: tuple[str, ...],
    post: Post,
    label: str,
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]],
) -> None:
    if not paths and post.empty:
        raise click.UsageError("give files, or a post's --text, --url or --account")
    if not post.empty:
        _run_post(runtime, post, label, as_json, act)
    if paths:
        _run_over_files(runtime, paths, as_json, act=act)


@main.command()
@click.argument("paths", nargs=-1)
@post_options
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def match(runtime: Runtime, paths: tuple[str, ...], post: Post, as_json: bool) -> None:
    """Hash files, or take a post's text, links and accounts, and look them up in
    every enabled bank, opening no case."""

    def look_up(_path: str, signals: list[Signal]) -> dict[str, Any]:
        with runtime.database.session() as session:
            found = runtime.scanner.match(session, signals)
        return {"matches": [m.to_dict() for m in found.matches]}

    _files_and_post(runtime, paths, post, "post", as_json, look_up)


@main.command()
@click.argument("paths", nargs=-1)
@post_options
@click.option("--content-ref", help="The post's reference in the platform (required with a post).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def scan(
    runtime: Runtime, paths: tuple[str, ...], post: Post, content_ref: str | None, as_json: bool
) -> None:
    """Hash, match and open review cases; a file's content_ref is its absolute path,
    a post's is --content-ref."""
    if not post.empty and not content_ref:
        raise click.UsageError("a post needs --content-ref")

    def scan_one(path: str, signals: list[Signal]) -> dict[str, Any]:
        is_post = path == content_ref and not post.empty
        with runtime.database.session() as session:
            result = runtime.scanner.scan(
                session,
                signals,
                path if is_post else str(Path(path).resolve()),
                media=None if is_post else Path(path).read_bytes(),
                text=post.text if is_post else None,
            )
        return {
            "matches": [m.to_dict() for m in result.matches],
            "case_id": result.case_id,
        }

    _files_and_post(runtime, paths, post, content_ref or "post", as_json, scan_one)


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
        curation.create_bank(session, CLI_ACTOR, name, description=description)
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
            content = curation.add_content(
                session,
                CLI_ACTOR,
                store.get_bank(session, name),
                usable,
                runtime.taxonomy,
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
        report = curation.import_records(
            session,
            CLI_ACTOR,
            runtime.scanner.registry,
            target,
            transfer.parse(file, fmt),
            runtime.taxonomy,
        )
    for error in report.errors:
        click.echo(f"line {error.line}: {error.message}", err=True)
    click.echo(
        f"imported {report.added}, skipped {report.duplicates} already present,"
        f" {len(report.errors)} bad lines",
        err=True,
    )


@bank.command("import-hma")
@click.argument("source")
@click.option(
    "--bank", "banks", multiple=True, help="Only this HMA bank (repeat for more); default: all."
)
@click.option(
    "--with-exchange-content",
    is_flag=True,
    help="Also copy what HMA fetched from exchanges (default: follow the exchange here instead).",
)
@click.option(
    "--id-map",
    type=click.File("w"),
    help="Write `hma_id,id,bank` for every item copied (for clients that kept HMA's ids).",
)
@with_runtime
def bank_import_hma(
    runtime: Runtime, source: str, banks: tuple[str, ...], with_exchange_content: bool, id_map: Any
) -> None:
    """Copy banks from Meta HMA: SOURCE is its database (postgresql://...) or a folder of
    CSV dumps of its tables (docs/hma-compatibility.md). Each bank lands whole or not at all."""
    hma = hma_import.open_source(source)
    found = hma.banks()
    wanted = [b for b in found if not banks or b.name in banks]
    unknown = set(banks) - {b.name for b in found}
    if unknown:
        raise click.ClickException(f"HMA has no bank {', '.join(sorted(unknown))}")
    writer = csv.writer(id_map) if id_map else None
    if writer:
        writer.writerow(["hma_id", "id", "bank"])
    failed = False
    for source_bank in wanted:
        total = hma.count(source_bank.name)
        try:
            with (
                runtime.database.sessions.begin() as session,
                click.progressbar(length=total, label=source_bank.name, file=sys.stderr) as bar,
            ):
                report = curation.import_hma_bank(
                    session,
                    CLI_ACTOR,
                    runtime.scanner.registry,
                    source_bank,
                    hma.items(source_bank.name),
                    runtime.taxonomy,
                    with_exchange_content=with_exchange_content,
                    progress=bar.update,
                )
        except (BankExists, InvalidInput) as exc:
            click.echo(f"{source_bank.name}: not imported: {exc}", err=True)
            failed = True
            continue
        for problem in report.problems:
            click.echo(f"{source_bank.name}: {problem}", err=True)
        left_out = ", ".join(f"{n} {kind}" for kind, n in sorted(report.left_out.items()))
        click.echo(
            f"{source_bank.name}: imported {report.added} items ({report.disabled} disabled),"
            f" left out {report.exchange_items} fetched from exchanges,"
            f" {len(report.problems)} unusable"
            + (f"; signals of other types left out: {left_out}" if left_out else "")
            + ("; its ratio was outside 0-1 and was clamped" if report.ratio_clamped else ""),
            err=True,
        )
        if writer:
            writer.writerows((old, new, source_bank.name) for old, new in report.ids)
    for exchange in hma.exchanges():
        if any(b.exchange == exchange.name for b in wanted):
            click.echo(
                f"HMA exchange {exchange.name} ({exchange.api}) was not copied: add it here"
                " (hma exchange add, or POST /c/exchanges) to follow it",
                err=True,
            )
    if failed:
        sys.exit(1)


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


@bank.command("remove-on-appeal")
@click.argument("name")
@click.argument("content_id", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why: the appeal's outcome, kept with the removal.")
@with_runtime
def bank_remove_on_appeal(runtime: Runtime, name: str, content_id: int, reason: str) -> None:
    """Remove content an appeal found is not abuse: for good (syncs never add it back),
    with the reason, and with feedback to its exchange when it takes feedback."""
    with runtime.database.session() as session:
        bank = store.get_bank(session, name)
        content = store.get_content(session, bank, content_id)
        told = curation.remove_on_appeal(session, CLI_ACTOR, bank, content, reason)
    told_text = "; its exchange will be told" if told else ""
    click.echo(f"removed content {content_id} from {name}{told_text}", err=True)


@bank.command("publish")
@click.argument("name")
@click.option("--off", is_flag=True, help="Stop publishing the bank.")
@click.option(
    "--reshare/--no-reshare",
    default=None,
    help="Also share what the bank got from exchanges (off by default: only its own content).",
)
@with_runtime
def bank_publish(runtime: Runtime, name: str, off: bool, reshare: bool | None) -> None:
    """Let the exchange tokens scoped to this bank follow its changes (or stop it)."""
    with runtime.database.session() as session:
        curation.change_bank(
            session,
            CLI_ACTOR,
            store.get_bank(session, name),
            runtime.taxonomy,
            published=not off,
            reshare=reshare,
        )
    click.echo(f"bank {name} is {'no longer' if off else 'now'} published", err=True)


# exchange ---------------------------------------------------------------------


@main.group()
def exchange() -> None:
    """Connect banks to signal exchanges, sync them, and see how they are doing."""


def _config_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    config = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--config")
        config[key.strip()] = value
    return config


def _secret(value: str | None) -> str | None:
    """--credentials: the secret itself, or '-' to read it from stdin (kept out of history)."""
    if value == "-":
        return sys.stdin.readline().strip()
    return value


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
            config=_config_pairs(pairs),
            credentials=_secret(credentials),
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


# token ---------------------------------------------------------------------


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


# user ----------------------------------------------------------------------


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


# review --------------------------------------------------------------------


@main.group("review")
def review_group() -> None:
    """The review queue from the command line."""


@review_group.command("finalise")
@with_runtime
def review_finalise(runtime: Runtime) -> None:
    """Make decisions whose undo window has passed take effect (what `hma serve` does
    every few seconds; for deployments that run without its scheduler)."""
    with runtime.database.session() as session:
        done = review.finalise_due(session, runtime.settings.review_policy)
    click.echo(f"{done} decision(s) took effect", err=True)


@review_group.command("deliver")
@with_runtime
def review_deliver(runtime: Runtime) -> None:
    """Send due webhooks and exchange feedback (what `hma serve` does in the background;
    for deployments that run without its scheduler, after `hma review finalise`)."""
    webhooks = send_webhooks(runtime.settings, runtime.database, runtime.egress)
    click.echo(f"webhooks: {webhooks or 'no webhook_url configured'}", err=True)
    feedback = runtime.exchanges.send_feedback()
    click.echo(f"feedback: {feedback or 'another process is sending it'}", err=True)


# audit ---------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """Check and read the hash-chained audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def audit_verify(runtime: Runtime, as_json: bool) -> None:
    """Recompute the whole chain, then check it against the checkpoints written
    down outside the database; exit 1 at the first problem."""
    path = runtime.settings.audit_checkpoints
    anchors = AuditAnchor(path).read()
    points = anchors.checkpoints
    with runtime.database.session() as session:
        result = audit.verify(session, keyed_from=anchors.keyed_from)
        disagreements = audit.verify_checkpoints(session, points) if result.ok else []
    ok = result.ok and not disagreements
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": ok,
                    "checked": result.checked,
                    "latest_hash": result.latest_hash,
                    "first_broken_id": result.first_broken_id,
                    "problem": result.problem,
                    "checkpoints": len(points),
                    "checkpoint_problems": disagreements,
                    "keyed_from_entry": anchors.keyed_from.entry_id if anchors.keyed_from else None,
                }
            )
        )
    elif not result.ok:
        click.echo(
            f"audit log broken at entry {result.first_broken_id}: {result.problem}"
            f" ({result.checked} entries before it are intact)"
        )
    elif disagreements:
        click.echo("audit log rewritten: " + "; ".join(disagreements))
    else:
        click.echo(
            f"audit log intact: {result.checked} entries, latest hash {result.latest_hash};"
            f" agrees with {len(points)} checkpoint(s) in {path}"
        )
    if not ok:
        sys.exit(1)


@audit_group.command("checkpoint")
@with_runtime
def audit_checkpoint(runtime: Runtime) -> None:
    """Append the chain's head to the checkpoint file (refused while the chain is broken)."""
    with runtime.database.session() as session:
        point = AuditAnchor(runtime.settings.audit_checkpoints).write_head(session)
    if point is None:
        raise click.ClickException("the audit log is broken: run hma audit verify; nothing written")
    click.echo(
        f"checkpoint: entry {point.entry_id}, hash {point.hash},"
        f" appended to {runtime.settings.audit_checkpoints}"
    )


@audit_group.command("log")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--actor", default=None, help="Only this actor's entries.")
@click.option("--action", default=None, help="Only entries of this action, e.g. case.decide.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def audit_log(
    runtime: Runtime, limit: int, actor: str | None, action: str | None, as_json: bool
) -> None:
    """The newest entries, newest first."""
    with runtime.database.session() as session:
        entries = audit.recent(session, limit=limit, actor=actor, action=action)
    for entry in entries:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": entry.id,
                        "at": entry.at.isoformat(),
                        "actor": entry.actor,
                        "action": entry.action,
                        "subject": entry.subject,
                        "details": entry.details,
                        "prev_hash": entry.prev_hash,
                        "hash": entry.hash,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            details = f"\t{json.dumps(entry.details, ensure_ascii=False)}" if entry.details else ""
            click.echo(
                f"{entry.id}\t{entry.at.isoformat(timespec='seconds')}\t{entry.actor}"
                f"\t{entry.action}\t{entry.subject}{details}"
            )


# retention -----------------------------------------------------------------


@main.group("retention")
def retention_group() -> None:
    """Delete case media and closed cases whose retention period is over."""


@retention_group.command("run")
@with_runtime
def retention_run(runtime: Runtime) -> None:
    """Delete what is due now (the jobs process does so every hour), audited once."""
    policy = runtime.settings.retention_policy
    with runtime.database.session() as session:
        report = retention.run(session, policy)
    click.echo(
        f"deleted the media of {report.media_deleted} case(s) and {report.cases_deleted}"
        f" closed case(s); {report.cases_waiting} kept until their notices are sent"
    )


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
