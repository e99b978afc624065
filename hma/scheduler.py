"""Background jobs in `hma serve`: exchange syncs at their intervals, and feedback.

APScheduler runs one job per enabled exchange, plus a job that keeps that
set in step with the database (exchanges added, removed or changed by the CLI
or the API), one that delivers due feedback and, when a webhook URL is set,
one that sends due decision webhooks to the platform. Several processes may run
schedulers: the locks in `hma.exchanges` make sure a given sync, and the
feedback run, happen in one of them at a time. An exchange that keeps failing
is retried with exponential backoff, never more often than its interval.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from actioners import retention
from actioners.reporting import file_due
from actioners.review import finalise_due
from actioners.webhooks import WebhookReport, deliver_due
from banks import store
from banks.egress import Egress
from core.backoff import Backoff
from database import utcnow
from hma.assembly import load_taxonomy, review_policy
from hma.audit_anchor import CHECKPOINT_SECONDS, AuditAnchor
from hma.db import Database, refresh_statistics
from hma.exchanges import Exchanges
from hma.settings import Settings

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30
FEEDBACK_SECONDS = 30
WEBHOOK_SECONDS = 15
#: Filing due reports with reporters (NCMEC's CyberTipline).
REPORT_SECONDS = 15
#: How often decisions whose undo window has passed are made effective.
DECISION_SECONDS = 5
#: Deleting the media and closed cases whose retention period is over.
RETENTION_SECONDS = 3600
#: Refreshing the database's planner statistics (SQLite).
STATISTICS_SECONDS = 3600
#: How soon a sync a curator asked for starts.
REQUESTED_SYNC_SECONDS = 3
#: Enabling content that was disabled until a time now past.
ENABLE_DUE_SECONDS = 60
#: A failing exchange's syncs: a minute after the first failure, doubling up to six hours.
SYNC_BACKOFF = Backoff(first=60, longest=6 * 3600)


class Scheduler:
    """The deployment's background jobs, given what they use side by side."""

    def __init__(
        self, settings: Settings, database: Database, exchanges: Exchanges, egress: Egress
    ) -> None:
        self.settings, self.database, self.exchanges, self.egress = (
            settings,
            database,
            exchanges,
            egress,
        )
        self.review = review_policy(settings, load_taxonomy(settings))
        self.jobs = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self._intervals: dict[str, int] = {}

    def start(self) -> None:
        self.jobs.add_job(
            self.reconcile,
            IntervalTrigger(seconds=RECONCILE_SECONDS),
            id="reconcile",
            next_run_time=utcnow(),
        )
        self.jobs.add_job(self.feedback, IntervalTrigger(seconds=FEEDBACK_SECONDS), id="feedback")
        self.jobs.add_job(self.decisions, IntervalTrigger(seconds=DECISION_SECONDS), id="decisions")
        self.jobs.add_job(
            self.retention, IntervalTrigger(seconds=RETENTION_SECONDS), id="retention"
        )
        self.jobs.add_job(
            self.statistics,
            IntervalTrigger(seconds=STATISTICS_SECONDS),
            id="statistics",
            next_run_time=utcnow(),
        )
        self.jobs.add_job(
            self.requested_syncs,
            IntervalTrigger(seconds=REQUESTED_SYNC_SECONDS),
            id="requested-syncs",
        )
        self.jobs.add_job(
            self.enable_due, IntervalTrigger(seconds=ENABLE_DUE_SECONDS), id="enable-due"
        )
        self.jobs.add_job(
            self.audit_checkpoint,
            IntervalTrigger(seconds=CHECKPOINT_SECONDS),
            id="audit-checkpoint",
        )
        if self.settings.webhook_url:
            self.jobs.add_job(
                self.webhooks, IntervalTrigger(seconds=WEBHOOK_SECONDS), id="webhooks"
            )
        self.jobs.add_job(self.reports, IntervalTrigger(seconds=REPORT_SECONDS), id="reports")
        self.jobs.start()
        log.info("scheduler started")

    def stop(self) -> None:
        self.jobs.shutdown(wait=False)

    def reconcile(self) -> None:
        """One job per enabled exchange, at its interval."""
        with self.database.session() as session:
            wanted = {e.name: e.interval_seconds for e in self.exchanges.all(session) if e.enabled}
        for name in set(self._intervals) - set(wanted):
            self.jobs.remove_job(f"sync:{name}")
            del self._intervals[name]
        for name, interval in wanted.items():
            if self._intervals.get(name) == interval:
                continue
            self.jobs.add_job(
                self.sync,
                IntervalTrigger(seconds=interval),
                args=[name],
                id=f"sync:{name}",
                replace_existing=True,
                next_run_time=utcnow(),
            )
            self._intervals[name] = interval

    def sync(self, name: str) -> None:
        with self.database.session() as session:
            exchange = self.exchanges.get(session, name)
            failures, failed_at = exchange.consecutive_failures, exchange.last_error_at
        if failures and failed_at is not None:
            wait = SYNC_BACKOFF.after(failures)
            if utcnow() < failed_at + timedelta(seconds=wait):
                return
        report = self.exchanges.sync(name)
        if report.ran:
            log.info("exchange %s synced: %s", name, report.to_dict())

    def feedback(self) -> None:
        report = self.exchanges.send_feedback()
        if report is not None and (report.sent or report.retrying or report.failed):
            log.info("feedback: %s", report)

    def decisions(self) -> None:
        """Decisions whose undo window has passed take effect (each exactly once,
        whichever process gets to it first)."""
        with self.database.session() as session:
            done = finalise_due(session, self.review)
        if done:
            log.info("decisions: %d took effect", done)

    def retention(self) -> None:
        """Delete the media and closed cases whose time is up (audited once per run)."""
        with self.database.session() as session:
            report = retention.run(session, self.settings.retention_policy)
        if report.media_deleted or report.cases_deleted:
            log.info("retention: %s", report)

    def requested_syncs(self) -> None:
        for report in self.exchanges.run_requested():
            if report.ran:
                log.info("exchange %s synced on request: %s", report.exchange, report.to_dict())

    def enable_due(self) -> None:
        with self.database.sessions.begin() as session:
            enabled = store.enable_due(session)
        if enabled:
            log.info("content whose disabled time ended: %d items enabled", enabled)

    def statistics(self) -> None:
        refresh_statistics(self.database.engine)

    def audit_checkpoint(self) -> None:
        """Anchor the audit chain outside the database; a broken chain is an alarm."""
        with self.database.session() as session:
            point = AuditAnchor(self.settings.audit_checkpoints).write_head(session)
        if point is None:
            log.error("audit log broken: no checkpoint written; run hma audit verify")

    def reports(self) -> None:
        """File due reports (one jobs process runs this, under the jobs lease)."""
        box = self.exchanges.box
        done = file_due(self.database.sessions, box.decrypt, box.decrypt_bytes, self.egress)
        if done:
            log.info("reports: %s", done)

    def webhooks(self) -> None:
        """Send due decision webhooks (each delivery is claimed, so processes never share one)."""
        report = send_webhooks(self.settings, self.database, self.egress)
        if report is not None and (report.delivered or report.retrying or report.failed):
            log.info("webhooks: %s", report)


def send_webhooks(settings: Settings, database: Database, egress: Egress) -> WebhookReport | None:
    """Deliver due decision webhooks as the settings say; None when none is configured."""
    if not settings.webhook_url:
        return None
    return deliver_due(
        database.sessions,
        egress,
        settings.webhook_url,
        settings.webhook_secret,
        settings.webhook_timeout_seconds,
        settings.webhook_max_attempts,
    )
