"""`hma review`, `hma audit`, `hma retention` and `hma db`: the operator's steps
for deployments that run them by hand, and the audit log's checks."""

from __future__ import annotations

import json
import sys

import click

from actioners import retention, review
from actioners.reporting import file_due
from database import audit
from hma.audit_anchor import AuditAnchor
from hma.cli.base import Runtime, main, with_runtime
from hma.db import Database, upgrade
from hma.scheduler import send_webhooks


@main.group("review")
def review_group() -> None:
    """The review queue from the command line."""


@review_group.command("finalise")
@with_runtime
def review_finalise(runtime: Runtime) -> None:
    """Make decisions whose undo window has passed take effect (what `hma serve` does
    every few seconds; for deployments that run without its scheduler)."""
    with runtime.database.session() as session:
        done = review.finalise_due(session, runtime.review)
    click.echo(f"{done} decision(s) took effect", err=True)


@review_group.command("deliver")
@with_runtime
def review_deliver(runtime: Runtime) -> None:
    """Send due webhooks, exchange feedback and reports (what `hma serve` does in the
    background; for deployments that run without its scheduler, after `hma review finalise`)."""
    webhooks = send_webhooks(runtime.settings, runtime.database, runtime.egress)
    click.echo(f"webhooks: {webhooks or 'no webhook_url configured'}", err=True)
    box = runtime.box
    reports = file_due(runtime.database.sessions, box.decrypt, box.decrypt_bytes, runtime.egress)
    click.echo(f"reports: {reports if reports else 'none due'}", err=True)
    feedback = runtime.exchanges.send_feedback()
    click.echo(f"feedback: {feedback or 'another process is sending it'}", err=True)


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


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@with_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Apply pending schema migrations (back up first)."""
    upgrade(Database(runtime.settings.resolved_database_url).engine)
    click.echo("database is up to date", err=True)
