"""The curator's exchange pages: follow an exchange, see how its syncs go, sync now.

The add form is built from the adapter's own settings model, so a plugin's
exchange gets its form without a template of its own. Credentials are
write-only: a field to replace them, never one that shows them. A sync
asked for here runs in the jobs process (within seconds), not in the web
worker; the page follows its progress from the run's row.
"""

from __future__ import annotations

import typing
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from banks import exchange_admin
from banks.exchanges import adapter_type, adapter_types
from banks.models import Exchange, ExchangeRun
from core.errors import CodedError
from hma.web.console import CURATE_ROLES, console, signed_in
from hma.web.console.curation import actor, bank_names
from hma.web.context import db_session, services

#: Runs listed on an exchange's page.
RECENT_RUNS = 10


@console.get("/exchanges")
@signed_in(*CURATE_ROLES)
def exchanges() -> str:
    found = services().exchanges
    db = db_session()
    rows = [(e, found.status(e), _latest_run(e)) for e in found.all(db)]
    return render_template(
        "console/curate/exchanges.html", rows=rows, types=sorted(adapter_types())
    )


@console.route("/exchanges/new", methods=["GET", "POST"])
@signed_in(*CURATE_ROLES)
def exchange_new() -> ResponseReturnValue:
    """The add form of one adapter type (`?type=`), and adding it."""
    kind = request.values.get("type", "")
    try:
        adapter = adapter_type(kind)
    except CodedError as exc:
        flash(exc.message, "error")
        return redirect(url_for("console.exchanges"))
    fields = _fields(adapter.config_type)
    if request.method == "POST":
        form = request.form
        db = db_session()
        try:
            services().exchanges.add(
                db,
                actor(),
                form.get("name", "").strip(),
                kind,
                form.get("bank", ""),
                url=form.get("url", "").strip() or None,
                interval=_whole(form.get("interval")),
                config=_config(fields, form),
                credentials=form.get("credentials") or None,
                enabled=form.get("enabled") == "on",
            )
        except CodedError as exc:
            db.rollback()
            flash(exc.message, "error")
        else:
            db.commit()
            flash(f"Exchange {form.get('name')} added.")
            return redirect(url_for("console.exchange_page", name=form.get("name", "").strip()))
    return render_template(
        "console/curate/exchange_new.html",
        kind=kind,
        adapter=adapter,
        fields=fields,
        banks=bank_names(),
        form=request.form,
    )


@console.get("/exchanges/<name>")
@signed_in(*CURATE_ROLES)
def exchange_page(name: str) -> str:
    found = services().exchanges
    db = db_session()
    exchange = found.get(db, name)
    runs = exchange_admin.recent_runs(db, exchange, RECENT_RUNS)
    return render_template(
        "console/curate/exchange.html",
        exchange=exchange,
        status=found.status(exchange),
        runs=list(runs),
        scheduler=services().settings.scheduler,
    )


@console.get("/exchanges/<name>/progress")
@signed_in(*CURATE_ROLES)
def exchange_progress(name: str) -> ResponseReturnValue:
    """The latest run, for the page's progress bar (polled while a sync runs)."""
    exchange = services().exchanges.get(db_session(), name)
    run = _latest_run(exchange)
    return jsonify(
        {
            "requested": exchange.sync_requested_at is not None,
            "running": run is not None and run.ok is None,
            "records": run.records if run else 0,
            "expected": run.expected if run else None,
            "ok": run.ok if run else None,
            "error": run.error if run else None,
        }
    )


@console.post("/exchanges/<name>/sync")
@signed_in(*CURATE_ROLES)
def exchange_sync(name: str) -> ResponseReturnValue:
    db = db_session()
    found = services().exchanges
    found.request_sync(db, actor(), found.get(db, name))
    db.commit()
    flash("Sync asked for: it starts within seconds.")
    return redirect(url_for("console.exchange_page", name=name))


@console.post("/exchanges/<name>/settings")
@signed_in(*CURATE_ROLES)
def exchange_settings(name: str) -> ResponseReturnValue:
    """Enable or disable, change the interval, or replace the credentials."""
    db = db_session()
    found = services().exchanges
    exchange = found.get(db, name)
    form = request.form
    try:
        found.update(
            db,
            actor(),
            exchange,
            interval=_whole(form.get("interval")),
            enabled=form.get("enabled") == "on",
            feedback=form.get("feedback") == "on",
            credentials=form.get("credentials") or None,
        )
    except CodedError as exc:
        db.rollback()
        flash(exc.message, "error")
    else:
        db.commit()
        flash("Exchange saved.")
    return redirect(url_for("console.exchange_page", name=name))


@console.post("/exchanges/<name>/remove")
@signed_in(*CURATE_ROLES)
def exchange_remove(name: str) -> ResponseReturnValue:
    if request.form.get("confirm") != name:
        flash(f"Type the exchange's name, {name}, to stop following it.", "error")
        return redirect(url_for("console.exchange_page", name=name))
    keep = request.form.get("keep_content") == "on"
    try:
        removed = services().exchanges.remove(name, keep_content=keep, actor=actor())
    except CodedError as exc:
        flash(exc.message, "error")
        return redirect(url_for("console.exchange_page", name=name))
    flash(f"No longer following {name}; {removed} items went with it.")
    return redirect(url_for("console.exchanges"))


def _latest_run(exchange: Exchange) -> ExchangeRun | None:
    return next(iter(exchange_admin.recent_runs(db_session(), exchange, 1)), None)


def _fields(model: Any) -> list[dict[str, Any]]:
    """The settings model's fields as form fields."""
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        listed = typing.get_origin(annotation) in (list, set, tuple)
        choices = (
            typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
        )
        required = field.is_required()
        default = None if required else field.get_default(call_default_factory=True)
        out.append(
            {
                "name": name,
                "help": field.description or "",
                "required": required,
                "default": ", ".join(map(str, default)) if listed and default else default,
                "listed": listed,
                "choices": choices,
            }
        )
    return out


def _config(fields: list[dict[str, Any]], form: Any) -> dict[str, Any]:
    """What was filled in (empty fields keep their defaults); lists are comma-separated."""
    config: dict[str, Any] = {}
    for field in fields:
        text = form.get(field["name"], "").strip()
        if not text:
            continue
        config[field["name"]] = (
            [part.strip() for part in text.split(",") if part.strip()] if field["listed"] else text
        )
    return config


def _whole(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return 0
