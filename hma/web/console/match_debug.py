"""The match-debug page: why something matched, or did not.

A curator uploads a file or pastes a hash; the page lists every bank signal
near it with its distance, its bank and the threshold that decided. The
upload is hashed and dropped, never shown.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from core.errors import CodedError
from hashers import Signal
from hma.web.console import CURATE_ROLES, console, signed_in
from hma.web.context import db_session, services


@console.route("/match-debug", methods=["GET", "POST"])
@signed_in(*CURATE_ROLES)
def match_debug() -> Any:
    scanner = services().scanner
    signals: list[Signal] = []
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is not None and upload.filename:
                signals = scanner.hash(upload.read())
            elif request.form.get("value", "").strip():
                signals = scanner.parse_signals(
                    [(request.form.get("type", "pdq"), request.form["value"])]
                )
            else:
                error = "Upload a file or paste a hash."
        except CodedError as exc:
            error = exc.message
    candidates = scanner.indexes.explain(db_session(), signals) if signals else []
    return render_template(
        "console/curate/debug.html",
        signals=signals,
        candidates=candidates,
        error=error,
        types=sorted(scanner.registry.signal_types),
        searched=request.method == "POST" and error is None,
    )
