"""The curator's pages: the overview, banks, and each bank's content.

Curators and admins only, signed in as reviewers are (password and TOTP).
No page here shows media: content is known by its signals, tags and
metadata, and uploads are hashed and dropped. Every change goes through
`banks.curation`, audited under the signed-in person.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_template,
    stream_with_context,
    url_for,
)
from werkzeug.datastructures import FileStorage

from actioners import trends
from banks import curation, store, transfer, validation
from core.errors import CodedError
from database import utcnow
from hashers.signals import PDQ
from hma.web.console import CURATE_ROLES, console, reviewer, signed_in
from hma.web.console.charts import bar_chart, line_chart
from hma.web.context import account_keys, db_session, services

PAGE = 50
#: Records an import writes between two progress updates on its page.
IMPORT_STEP = 500


def actor() -> str:
    """The signed-in curator, as the audit log names them."""
    return reviewer()


@console.get("/overview")
@signed_in(*CURATE_ROLES)
def overview() -> str:
    """Banks, syncs, matches and decisions over the last 30 days, drawn on the server."""
    db = db_session()
    now = utcnow()
    charts = [
        ("Signals per bank", trends.signals_per_bank(db, now), line_chart),
        ("Exchange syncs per day", trends.syncs_per_day(db, now), bar_chart),
        ("Matches per day", trends.matches_per_day(db, now), bar_chart),
        ("Cases opened and decided per day", trends.cases_per_day(db, now), bar_chart),
        ("Median hours to a decision", trends.hours_to_decision(db, now), line_chart),
    ]
    drawn = [
        (title, series, draw(title, series.days, series.values)) for title, series, draw in charts
    ]
    return render_template("console/curate/overview.html", charts=drawn, banks=store.list_banks(db))


# Banks ------------------------------------------------------------------------------------


@console.route("/banks", methods=["GET", "POST"])
@signed_in(*CURATE_ROLES)
def banks() -> Any:
    db = db_session()
    if request.method == "POST":
        try:
            bank = curation.create_bank(
                db,
                actor(),
                request.form.get("name", "").strip(),
                description=request.form.get("description", ""),
            )
        except CodedError as exc:
            flash(exc.message, "error")
            return redirect(url_for("console.banks"))
        db.commit()
        flash(f"Bank {bank.name} created.")
        return redirect(url_for("console.bank_page", name=bank.name))
    return render_template("console/curate/banks.html", banks=store.list_banks(db))


@console.get("/banks/<name>")
@signed_in(*CURATE_ROLES)
def bank_page(name: str) -> str:
    """The bank's settings and a page of its content (searched by value or tag)."""
    db = db_session()
    bank = store.get_bank(db, name)
    value, tag = request.args.get("value", "").strip(), request.args.get("tag", "").strip()
    after = _int(request.args.get("after"), 0)
    items = store.list_content(
        db,
        bank,
        value=value or None,
        tag=tag or None,
        after=after,
        limit=PAGE,
        keys=account_keys(),
    )
    return render_template(
        "console/curate/bank.html",
        bank=bank,
        items=items,
        count=store.count_content(db, bank),
        disabled=store.count_disabled(db, bank),
        value=value,
        tag=tag,
        more=items[-1].id if len(items) == PAGE else None,
        max_trust=validation.MAX_TRUST,
        max_threshold=validation.MAX_PDQ_THRESHOLD,
    )


@console.post("/banks/<name>/settings")
@signed_in(*CURATE_ROLES)
def bank_settings(name: str) -> Any:
    """Rename, describe, enable or disable, and set thresholds, trust and ratio."""
    db = db_session()
    bank = store.get_bank(db, name)
    form = request.form
    threshold = form.get("pdq_threshold", "").strip()
    try:
        curation.change_bank(
            db,
            actor(),
            bank,
            services().taxonomy,
            name=form.get("name", bank.name).strip(),
            description=form.get("description", bank.description),
            enabled=form.get("enabled") == "on",
            thresholds={PDQ: _int(threshold, -1) if threshold else None},
            trust=_int(form.get("trust"), -1),
            matching_ratio=_float(form.get("matching_ratio"), -1.0),
        )
    except CodedError as exc:
        db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.bank_page", name=name))
    db.commit()
    flash("Bank saved.")
    return redirect(url_for("console.bank_page", name=bank.name))


@console.post("/banks/<name>/delete")
@signed_in(*CURATE_ROLES)
def bank_delete(name: str) -> Any:
    db = db_session()
    bank = store.get_bank(db, name)
    if request.form.get("confirm") != name:
        flash(f"Type the bank's name, {name}, to delete it.", "error")
        return redirect(url_for("console.bank_page", name=name))
    curation.delete_bank(db, actor(), bank)
    db.commit()
    flash(f"Bank {name} deleted, with its content.")
    return redirect(url_for("console.banks"))


# Content -----------------------------------------------------------------------------------


@console.post("/banks/<name>/content")
@signed_in(*CURATE_ROLES)
def content_add(name: str) -> Any:
    """Hash an uploaded file and add its signals with tags; the file itself is not kept."""
    db = db_session()
    bank = store.get_bank(db, name)
    upload = _chosen_file()
    if upload is None:
        return redirect(url_for("console.bank_page", name=name))
    try:
        signals = [s for s in services().scanner.hash(upload.read()) if s.usable]
        content = curation.add_content(
            db,
            actor(),
            bank,
            signals,
            services().taxonomy,
            tags=validation.split_tags(request.form.get("tags"), ","),
            metadata={"filename": upload.filename},
            source="console",
            note=request.form.get("note") or None,
            keys=account_keys(),
        )
    except CodedError as exc:
        db.rollback()
        flash(f"{upload.filename}: {exc.message}", "error")
        return redirect(url_for("console.bank_page", name=name))
    db.commit()
    flash(f"{upload.filename} added as item {content.id} ({len(signals)} signals).")
    return redirect(url_for("console.bank_page", name=name))


@console.post("/banks/<name>/content/<id:content_id>/state")
@signed_in(*CURATE_ROLES)
def content_state(name: str, content_id: int) -> Any:
    db = db_session()
    bank = store.get_bank(db, name)
    content = store.get_content(db, bank, content_id)
    enable = request.form.get("enabled") == "1"
    try:
        curation.change_content(db, actor(), bank, content, services().taxonomy, enabled=enable)
    except CodedError as exc:
        db.rollback()
        flash(exc.message, "error")
    else:
        db.commit()
        flash(f"Item {content_id} {'enabled' if enable else 'disabled'}.")
    return redirect(url_for("console.bank_page", name=name))


@console.post("/banks/<name>/content/<id:content_id>/remove")
@signed_in(*CURATE_ROLES)
def content_remove(name: str, content_id: int) -> Any:
    """Remove an item, saying why; an exchange's item is never added back, and the
    exchange is told when it takes feedback."""
    db = db_session()
    bank = store.get_bank(db, name)
    content = store.get_content(db, bank, content_id)
    try:
        told = curation.remove_on_appeal(db, actor(), bank, content, request.form.get("reason", ""))
    except CodedError as exc:
        db.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.bank_page", name=name))
    db.commit()
    flash(f"Item {content_id} removed." + (" Its exchange will be told." if told else ""))
    return redirect(url_for("console.bank_page", name=name))


# Import and export ---------------------------------------------------------------------------


@console.post("/banks/<name>/import")
@signed_in(*CURATE_ROLES)
def bank_import(name: str) -> Response:
    """Import a list, showing progress as it goes: the page is sent while it is written."""
    db = db_session()
    bank = store.get_bank(db, name)
    upload = _chosen_file()
    if upload is None:
        return redirect(url_for("console.bank_page", name=name))  # type: ignore[return-value]
    text = io.TextIOWrapper(upload.stream, encoding="utf-8-sig", errors="replace").read()
    lines = text.splitlines()
    records = list(transfer.parse(lines))
    outcome = transfer.ImportReport()
    who, registry, taxonomy = actor(), services().scanner.registry, services().taxonomy

    def steps() -> Iterator[int]:
        """Import a chunk at a time, each committed, yielding how far it has got."""
        try:
            for start in range(0, len(records), IMPORT_STEP):
                chunk = records[start : start + IMPORT_STEP]
                report = curation.import_records(db, who, registry, bank, chunk, taxonomy)
                db.commit()
                outcome.added += report.added
                outcome.duplicates += report.duplicates
                outcome.errors += report.errors
                yield min(len(records), start + IMPORT_STEP)
        finally:
            db.close()  # as in bank_export: the body outlives the request's teardown

    return Response(
        stream_template(
            "console/curate/import.html",
            bank=bank,
            total=len(lines),
            total_records=len(records),
            steps=steps(),
            outcome=outcome,
        ),
        mimetype="text/html",
    )


@console.get("/banks/<name>/export")
@signed_in(*CURATE_ROLES)
def bank_export(name: str) -> Response:
    """The bank's signals as JSON lines, streamed as they are read."""
    db = db_session()
    bank = store.get_bank(db, name)

    def lines() -> Iterator[str]:
        # The request's own teardown has run by the time the body streams: the
        # session's reads here are this generator's to end.
        try:
            for record in transfer.export_records(db, bank):
                yield transfer.to_jsonl(record) + "\n"
        finally:
            db.close()

    return Response(
        stream_with_context(lines()),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{bank.name}.jsonl"'},
    )


def _chosen_file() -> FileStorage | None:
    """The form's file, or None (said in a message) when none was chosen."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a file first.", "error")
        return None
    return upload


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or "")
    except ValueError:
        return default


def _float(text: str | None, default: float) -> float:
    try:
        return float(text or "")
    except ValueError:
        return default


def bank_names() -> list[str]:
    return store.bank_names(db_session())
