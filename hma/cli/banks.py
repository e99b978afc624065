"""`hma bank`: banks and their content, import and export, publishing."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from banks import curation, hma_import, store, transfer
from core.errors import (
    BankExists,
    InvalidInput,
)
from hma.cli.base import CLI_ACTOR, Runtime, main, with_runtime
from hma.cli.content import hash_outcomes


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
    for outcome in hash_outcomes(runtime, paths):
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
                keys=runtime.scanner.registry.account_keys,
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
