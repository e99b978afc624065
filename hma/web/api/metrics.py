"""Review metrics and transparency figures (JSON, CSV), and the Prometheus scrape route.

`/metrics` lives outside /api/v1 where scrapers expect it, on its own small
blueprint (`exposition`), and like the rest needs a token of role admin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from flask import Blueprint, Response

from actioners import metrics as review_metrics
from core.names import Role
from database import utcnow
from hma.web import schemas
from hma.web.api import api
from hma.web.auth import require
from hma.web.context import db_session, services
from hma.web.errors import ApiError
from hma.web.typed import endpoint

#: The period a request without `start` covers, ending now.
DEFAULT_PERIOD = timedelta(days=30)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

exposition = Blueprint("exposition", __name__)


def _moment(name: str, raw: str | None, *, is_end: bool) -> datetime | None:
    """`?name=` as a UTC datetime: an ISO date or datetime (naive means UTC).

    A date alone is the start of that day; as `end`, the end of it (the next
    midnight), so that `start=2024-01-01&end=2024-01-31` covers all of January.
    """
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    try:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            parsed = datetime.fromisoformat(raw)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1) if is_end else moment
    except (ValueError, OverflowError):
        raise ApiError(
            400, "invalid_period", f"{name} must be an ISO date or datetime, such as 2024-01-31"
        ) from None


def period_args(query: schemas.PeriodQuery) -> tuple[datetime, datetime]:
    """The `[start, end)` a request asks about: by default the last 30 days."""
    end = _moment("end", query.end, is_end=True) or utcnow()
    start = _moment("start", query.start, is_end=False)
    if start is None:
        try:
            start = end - DEFAULT_PERIOD
        except OverflowError:
            raise ApiError(400, "invalid_period", "end is too early") from None
    if start >= end:
        raise ApiError(400, "invalid_period", "start must be before end")
    return start, end


@api.get("/metrics")
@endpoint(
    "Queue and decision figures for a period",
    role=Role.ADMIN,
    query=schemas.PeriodQuery,
    responses={200: schemas.Metrics},
)
def review_metrics_json(query: schemas.PeriodQuery) -> schemas.Metrics:
    start, end = period_args(query)
    session = db_session()
    snapshot = review_metrics.queue_snapshot(session, utcnow())
    stats = review_metrics.decision_stats(session, start, end)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "queue": cast(schemas.QueueFigures, snapshot.to_json()),
        "decisions": cast(schemas.DecisionFigures, stats.to_json()),
    }


@api.get("/transparency")
@endpoint(
    "Figures for a transparency report, as JSON or CSV",
    role=Role.ADMIN,
    query=schemas.TransparencyQuery,
    responses={200: [schemas.Transparency, "text/csv"]},
)
def transparency_report(query: schemas.TransparencyQuery) -> Any:
    start, end = period_args(query)
    report = review_metrics.transparency(db_session(), start, end)
    if query.format == "json":
        return report
    filename = f"hma-transparency_{_stamp(start)}_{_stamp(end)}.csv"
    return Response(
        review_metrics.transparency_csv(report),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@exposition.get("/metrics")
@require(Role.ADMIN)
def prometheus_metrics() -> Response:
    session = db_session()
    webhooks, feedback = review_metrics.status_counts(session)
    indexes = services().scanner.indexes.status()["indexes"]
    text = review_metrics.prometheus_text(
        review_metrics.queue_snapshot(session, utcnow()),
        review_metrics.decision_stats(session),
        webhooks,
        feedback,
        reports=review_metrics.report_counts(session),
        indexed={name: state["size"] for name, state in indexes.items()},
        by_signal_type=review_metrics.decisions_by_signal_type(session),
    )
    return Response(text, content_type=PROMETHEUS_CONTENT_TYPE)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")
