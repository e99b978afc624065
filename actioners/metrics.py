"""Figures about the review work: the queue now, decisions over a period, and a
transparency report, plus their Prometheus exposition.

Everything is counted in SQL with GROUP BY; the only rows loaded are the
time-to-decision durations (one number each), which percentiles need. Periods
are half-open, `[start, end)`, and an open end (None) is unbounded.

What counts where:

* a decision's moment is when the reviewer made it (`CaseDecision.created_at`);
  only decisions in state "effective" count, and "undone" ones are reported apart;
* the transparency report's cases are those closed in the period whose closing
  decision (confirm or reject) is in effect.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, cast, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from actioners.models import Case, CaseDecision, CaseMatch, Report, WebhookDelivery
from banks.models import BankContent, BankSignal, ExchangeFeedback
from banks.spreadsheet import safe_cell
from core.names import (
    OPEN_STATUSES,
    CaseStatus,
    DecisionState,
    DeliveryStatus,
    FeedbackStatus,
    ReportState,
    Verdict,
)

#: The queue's statuses, reported even when empty.
QUEUE_STATUSES: tuple[str, ...] = (*OPEN_STATUSES, CaseStatus.PENDING)
DECISION_TYPES: tuple[str, ...] = tuple(Verdict)
FINAL_DECISIONS: tuple[str, ...] = (Verdict.CONFIRM, Verdict.REJECT)
WEBHOOK_STATUSES: tuple[str, ...] = tuple(DeliveryStatus)
FEEDBACK_STATUSES: tuple[str, ...] = tuple(FeedbackStatus)
FEEDBACK_VERDICTS: tuple[str, ...] = ("positive", "negative")
#: The quantiles of time to decision that are computed and exported.
QUANTILES: tuple[float, ...] = (0.5, 0.9)


# The queue ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSnapshot:
    """The review queue at one moment."""

    at: datetime
    #: Cases per status: "open" and "escalated" (awaiting a reviewer) and
    #: "pending" (decided, not yet in effect).
    by_status: dict[str, int]
    #: Age of the oldest case awaiting a reviewer (open or escalated), or None.
    oldest_age_seconds: float | None
    #: Cases awaiting a reviewer that someone holds under an unexpired lease.
    claimed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "by_status": dict(self.by_status),
            "oldest_age_seconds": self.oldest_age_seconds,
            "claimed": self.claimed,
        }


def queue_snapshot(session: Session, now: datetime) -> QueueSnapshot:
    counts = _counts(
        session,
        select(Case.status, func.count())
        .where(Case.status.in_(QUEUE_STATUSES))
        .group_by(Case.status),
    )
    oldest = session.scalar(select(func.min(Case.created_at)).where(Case.status.in_(OPEN_STATUSES)))
    claimed = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.status.in_(OPEN_STATUSES),
            Case.claimed_by.is_not(None),
            or_(Case.lease_expires_at.is_(None), Case.lease_expires_at > now),
        )
    )
    return QueueSnapshot(
        at=now,
        by_status={status: counts.get(status, 0) for status in QUEUE_STATUSES},
        oldest_age_seconds=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        claimed=int(claimed or 0),
    )


# Decisions --------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationSummary:
    """Count, total, mean and quantiles of a set of durations, in seconds."""

    count: int = 0
    total_seconds: float = 0.0
    mean_seconds: float | None = None
    #: Quantile (0.5, 0.9) -> seconds; empty when there is nothing to summarise.
    quantiles: dict[float, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls, durations: Iterable[float], quantiles: Sequence[float] = QUANTILES
    ) -> DurationSummary:
        values = sorted(durations)
        if not values:
            return cls()
        total = math.fsum(values)
        return cls(
            count=len(values),
            total_seconds=total,
            mean_seconds=total / len(values),
            quantiles={q: percentile(values, q) for q in quantiles},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_seconds": self.quantiles.get(0.5),
            "p90_seconds": self.quantiles.get(0.9),
            "mean_seconds": self.mean_seconds,
        }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The `q` quantile (0 to 1) of sorted values, interpolating linearly between ranks."""
    if not sorted_values:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    fraction = position - below
    low, high = sorted_values[below], sorted_values[above]
    return low + (high - low) * fraction


@dataclass(frozen=True)
class DecisionStats:
    """Effective decisions over a period."""

    start: datetime | None
    end: datetime | None
    #: Decision ("confirm", "reject", "escalate") -> count; every type is present.
    by_decision: dict[str, int]
    #: (reviewer, decision) -> count, for the pairs that occur.
    by_reviewer: dict[tuple[str, str], int]
    #: Seconds from each decided case's creation to the decision.
    time_to_decision: DurationSummary
    #: Decisions of the period that were taken back in their undo window.
    undone: int

    @property
    def total(self) -> int:
        return sum(self.by_decision.values())

    def to_json(self) -> dict[str, Any]:
        reviewers: dict[str, dict[str, int]] = {}
        for (reviewer, decision), count in sorted(self.by_reviewer.items()):
            reviewers.setdefault(reviewer, {})[decision] = count
        return {
            "total": self.total,
            "by_decision": dict(self.by_decision),
            "by_reviewer": reviewers,
            "time_to_decision": self.time_to_decision.to_json(),
            "undone": self.undone,
        }


def decision_stats(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> DecisionStats:
    """Effective decisions made in `[start, end)` (None: unbounded on that side)."""
    in_period = _within(CaseDecision.created_at, start, end)
    effective = and_(CaseDecision.state == DecisionState.EFFECTIVE, in_period)
    by_decision = _counts(
        session,
        select(CaseDecision.decision, func.count())
        .where(effective)
        .group_by(CaseDecision.decision),
    )
    pairs = session.execute(
        select(CaseDecision.decided_by, CaseDecision.decision, func.count())
        .where(effective)
        .group_by(CaseDecision.decided_by, CaseDecision.decision)
    )
    durations = session.scalars(
        select(_seconds_between(session, Case.created_at, CaseDecision.created_at))
        .select_from(CaseDecision)
        .join(Case, Case.id == CaseDecision.case_id)
        .where(effective)
    )
    undone = session.scalar(
        select(func.count())
        .select_from(CaseDecision)
        .where(CaseDecision.state == DecisionState.UNDONE, in_period)
    )
    return DecisionStats(
        start=start,
        end=end,
        by_decision=_with_known(by_decision, DECISION_TYPES),
        by_reviewer={(str(who), str(what)): int(n) for who, what, n in pairs},
        time_to_decision=DurationSummary.of(max(0.0, float(s)) for s in durations if s is not None),
        undone=int(undone or 0),
    )


def _seconds_between(
    session: Session, earlier: InstrumentedAttribute[datetime], later: Any
) -> ColumnElement[Any]:
    """SQL for the seconds from `earlier` to `later`, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    # SQLite keeps UTC timestamps as text; julianday() reads them as days.
    return cast((func.julianday(later) - func.julianday(earlier)) * 86400.0, Float)


# Transparency ----------------------------------------------------------------------------


def transparency(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """The period's figures for a transparency report.

    `content_actioned` and `cases_rejected` count cases closed in the period by
    a confirmation or rejection that is in effect; `matches_by_signal_type`
    counts the matches of those same cases, and the `..._by_signal_type` figures
    of each decision count those cases once per kind of signal they matched on
    (a URL, a hash by its type, an account, a keyword), as sharing programs
    report; `signals_added_by_signal_type` counts what banks took in during the
    period; feedback, webhooks and reports count what was sent, delivered or
    finished in the period.
    """
    decided = _decided(start, end)
    closed = _counts(
        session,
        select(Case.decision, func.count()).where(decided).group_by(Case.decision),
    )
    matches = _counts(
        session,
        select(CaseMatch.signal_type, func.count())
        .join(Case, Case.id == CaseMatch.case_id)
        .where(decided)
        .group_by(CaseMatch.signal_type),
    )
    decided_by_kind = decisions_by_signal_type(session, start, end)
    added = _counts(
        session,
        select(BankSignal.signal_type, func.count())
        .join(BankContent, BankContent.id == BankSignal.content_id)
        .where(_within(BankContent.created_at, start, end))
        .group_by(BankSignal.signal_type),
    )
    feedback = _counts(
        session,
        select(ExchangeFeedback.verdict, func.count())
        .where(
            ExchangeFeedback.status == FeedbackStatus.SENT,
            _within(ExchangeFeedback.sent_at, start, end),
        )
        .group_by(ExchangeFeedback.verdict),
    )
    webhooks = session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.DELIVERED,
            _within(WebhookDelivery.delivered_at, start, end),
        )
    )
    reported = session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.state == ReportState.FINISHED, _within(Report.finished_at, start, end))
    )
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "content_actioned": closed.get(Verdict.CONFIRM, 0),
        "cases_rejected": closed.get(Verdict.REJECT, 0),
        "matches_by_signal_type": dict(sorted(matches.items())),
        "content_actioned_by_signal_type": dict(sorted(decided_by_kind[Verdict.CONFIRM].items())),
        "cases_rejected_by_signal_type": dict(sorted(decided_by_kind[Verdict.REJECT].items())),
        "signals_added_by_signal_type": dict(sorted(added.items())),
        "feedback_sent_by_verdict": _with_known(feedback, FEEDBACK_VERDICTS),
        "webhooks_delivered": int(webhooks or 0),
        "reports_finished": int(reported or 0),
    }


def _decided(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    """Cases closed in `[start, end)` by a confirmation or rejection in effect."""
    closing_in_effect = exists().where(
        CaseDecision.case_id == Case.id,
        CaseDecision.decision == Case.decision,
        CaseDecision.state == DecisionState.EFFECTIVE,
    )
    return and_(
        Case.status == CaseStatus.CLOSED,
        Case.decision.in_(FINAL_DECISIONS),
        _within(Case.closed_at, start, end),
        closing_in_effect,
    )


def decisions_by_signal_type(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Decided cases by final decision, then by the kinds of signal they matched on
    (a case matched by a URL and a keyword counts once under each)."""
    rows = session.execute(
        select(Case.decision, CaseMatch.signal_type, func.count(func.distinct(Case.id)))
        .join(Case, Case.id == CaseMatch.case_id)
        .where(_decided(start, end))
        .group_by(Case.decision, CaseMatch.signal_type)
    ).all()
    out: dict[str, dict[str, int]] = {decision: {} for decision in FINAL_DECISIONS}
    for decision, signal_type, count in rows:
        if decision in out:
            out[decision][signal_type] = int(count)
    return out


def transparency_csv(report: Mapping[str, Any]) -> str:
    """The report as CSV rows `metric,key,value`: nested figures give one row per key."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "key", "value"])
    for metric, value in report.items():
        if isinstance(value, Mapping):
            for key, item in value.items():
                writer.writerow([safe_cell(metric), safe_cell(key), safe_cell(item)])
        else:
            writer.writerow([safe_cell(metric), "", safe_cell(value)])
    return out.getvalue()


# Prometheus ----------------------------------------------------------------------------


def status_counts(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Webhook deliveries and exchange feedback rows by status, every known status present."""
    webhooks = _counts(
        session,
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status),
    )
    feedback = _counts(
        session,
        select(ExchangeFeedback.status, func.count()).group_by(ExchangeFeedback.status),
    )
    return _with_known(webhooks, WEBHOOK_STATUSES), _with_known(feedback, FEEDBACK_STATUSES)


def report_counts(session: Session) -> dict[str, int]:
    """Reports to reporting services by state, every state present."""
    found = _counts(session, select(Report.state, func.count()).group_by(Report.state))
    return _with_known(found, tuple(ReportState))


def prometheus_text(
    snapshot: QueueSnapshot,
    stats_all_time: DecisionStats,
    webhooks: Mapping[str, int] | None = None,
    feedback: Mapping[str, int] | None = None,
    reports: Mapping[str, int] | None = None,
    indexed: Mapping[str, int] | None = None,
    by_signal_type: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The figures in the Prometheus text exposition format, version 0.0.4.

    `indexed`: signals this process's indexes hold, by signal type (read from
    memory: a count over the banks' tables would cost each scrape seconds);
    `by_signal_type`: decided cases as `decisions_by_signal_type` counts them."""
    out = _Exposition()
    out.family(
        "hma_review_queue_depth",
        "gauge",
        "Cases in the review queue, by status (pending: decided, not yet in effect).",
    )
    for status, count in snapshot.by_status.items():
        out.sample("hma_review_queue_depth", {"status": status}, count)
    out.family(
        "hma_review_oldest_case_age_seconds",
        "gauge",
        "Age of the oldest case awaiting a reviewer (0 when none is waiting).",
    )
    out.sample("hma_review_oldest_case_age_seconds", {}, snapshot.oldest_age_seconds or 0.0)
    out.family("hma_review_claimed_cases", "gauge", "Cases a reviewer holds under a live lease.")
    out.sample("hma_review_claimed_cases", {}, snapshot.claimed)
    out.family(
        "hma_review_decisions_total", "counter", "Effective review decisions, by type and reviewer."
    )
    for (reviewer, decision), count in sorted(stats_all_time.by_reviewer.items()):
        out.sample(
            "hma_review_decisions_total", {"decision": decision, "reviewer": reviewer}, count
        )
    summary = stats_all_time.time_to_decision
    out.family(
        "hma_review_time_to_decision_seconds",
        "summary",
        "Seconds from a case's creation to each effective decision on it.",
    )
    for q in QUANTILES:
        out.sample(
            "hma_review_time_to_decision_seconds",
            {"quantile": str(q)},
            summary.quantiles.get(q, math.nan),
        )
    out.sample("hma_review_time_to_decision_seconds_sum", {}, summary.total_seconds)
    out.sample("hma_review_time_to_decision_seconds_count", {}, summary.count)
    out.family(
        "hma_review_undone_decisions_total", "counter", "Decisions taken back in their undo window."
    )
    out.sample("hma_review_undone_decisions_total", {}, stats_all_time.undone)
    if webhooks is not None:
        out.family("hma_webhook_deliveries", "gauge", "Decision webhooks, by delivery status.")
        for status, count in webhooks.items():
            out.sample("hma_webhook_deliveries", {"status": status}, count)
    if feedback is not None:
        out.family("hma_exchange_feedback", "gauge", "Feedback owed to exchanges, by status.")
        for status, count in feedback.items():
            out.sample("hma_exchange_feedback", {"status": status}, count)
    if reports is not None:
        out.family(
            "hma_reports", "gauge", "Reports of confirmed cases (NCMEC's CyberTipline), by state."
        )
        for state, count in reports.items():
            out.sample("hma_reports", {"state": state}, count)
    if indexed is not None:
        out.family("hma_indexed_signals", "gauge", "Signals held for matching, by signal type.")
        for signal_type, count in sorted(indexed.items()):
            out.sample("hma_indexed_signals", {"signal_type": signal_type}, count)
    if by_signal_type is not None:
        out.family(
            "hma_review_decided_cases_total",
            "counter",
            "Cases closed by a decision in effect, by decision and kind of signal matched.",
        )
        for decision, counts in by_signal_type.items():
            for signal_type, count in sorted(counts.items()):
                labels = {"decision": decision, "signal_type": signal_type}
                out.sample("hma_review_decided_cases_total", labels, count)
    return out.text()


def escape_label_value(value: str) -> str:
    """A label value as the text format needs it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Exposition:
    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines += [f"# HELP {name} {escaped}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, labels: Mapping[str, str], value: float) -> None:
        rendered = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
        self._lines.append(
            f"{name}{{{rendered}}} {_number(value)}" if rendered else f"{name} {_number(value)}"
        )

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


# Helpers ------------------------------------------------------------------------------------


def _within(column: Any, start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    conditions = [column.is_not(None)]
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return and_(*conditions)


def _counts(session: Session, query: Any) -> dict[str, int]:
    return {str(key): int(count) for key, count in session.execute(query)}


def _with_known(counts: Mapping[str, int], known: Sequence[str]) -> dict[str, int]:
    return {k: counts.get(k, 0) for k in known} | {
        k: n for k, n in sorted(counts.items()) if k not in known
    }
