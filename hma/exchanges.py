"""The exchange operations of a running deployment, wired from its settings: the
rules of adding and changing exchanges (`banks.exchange_admin`) with the
deployment's secret box and egress policy, and syncs and feedback run under
cross-process locks, so that two processes never run the same one at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from banks import exchange_admin
from banks.egress import Egress
from banks.feedback import FeedbackReport, send_due_feedback
from banks.models import Exchange
from banks.sync import SyncEngine, SyncReport
from banks.taxonomy import Taxonomy
from core.errors import Conflict
from database import audit
from hashers import Registry
from hma.db import Database
from hma.locks import exclusive
from hma.secrets import SecretBox
from hma.settings import Settings

FEEDBACK_LOCK = "exchange-feedback"


@dataclass
class Exchanges:
    """Everything exchange operations need, built once per process."""

    settings: Settings
    database: Database
    box: SecretBox
    egress: Egress
    engine: SyncEngine

    @classmethod
    def build(
        cls,
        settings: Settings,
        database: Database,
        registry: Registry,
        taxonomy: Taxonomy,
        box: SecretBox,
        egress: Egress,
    ) -> Exchanges:
        engine = SyncEngine(database.sessions, registry, taxonomy, box.decrypt, egress)
        return cls(settings, database, box, egress, engine)

    # Configuration (the rules are exchange_admin's) ----------------------------------

    get = staticmethod(exchange_admin.get_exchange)
    all = staticmethod(exchange_admin.all_exchanges)
    request_sync = staticmethod(exchange_admin.request_sync)

    def add(self, session: Session, actor: str, *args: Any, **kwargs: Any) -> Exchange:
        """`exchange_admin.add_exchange`, credentials sealed with this deployment's key."""
        policy = self.egress.policy
        return exchange_admin.add_exchange(
            session, self.box.encrypt, policy, actor, *args, **kwargs
        )

    def update(self, session: Session, actor: str, exchange: Exchange, **changes: Any) -> Exchange:
        """`exchange_admin.update_exchange`, credentials sealed with this deployment's key."""
        policy = self.egress.policy
        return exchange_admin.update_exchange(
            session, self.box.encrypt, policy, actor, exchange, **changes
        )

    def status(self, exchange: Exchange) -> dict[str, Any]:
        return exchange_admin.exchange_status(self.engine, exchange)

    # Running -------------------------------------------------------------------------
    def sync(self, name: str, full: bool = False) -> SyncReport:
        """One sync now, unless another process is running this exchange's sync."""
        with exclusive(self.database, self.settings.data_dir, f"exchange-sync:{name}") as taken:
            if not taken:
                report = SyncReport(name)
                report.ran = False
                return report
            return self.engine.run(name, force_full=full)

    def run_requested(self) -> list[SyncReport]:
        """Run the syncs curators asked for, each once, the request cleared first."""
        with self.database.sessions.begin() as session:
            names = exchange_admin.take_requested_syncs(session)
        return [self.sync(name) for name in names]

    def send_feedback(self) -> FeedbackReport | None:
        """Deliver due feedback, unless another process is doing it (then None)."""
        with exclusive(self.database, self.settings.data_dir, FEEDBACK_LOCK) as taken:
            return send_due_feedback(self.engine) if taken else None

    def remove(self, name: str, keep_content: bool = False, actor: str = "cli") -> int:
        """Stop following an exchange; its content goes too unless kept. How many items went."""
        with exclusive(self.database, self.settings.data_dir, f"exchange-sync:{name}") as taken:
            if not taken:
                raise Conflict(
                    f"exchange {name!r} is syncing; try again when it is done", code="exchange_busy"
                )
            with self.database.sessions.begin() as session:
                exchange = self.get(session, name)
                bank = exchange.bank.name
                removed = self.engine.remove(session, exchange, keep_content)
                details = {"bank": bank, "keep_content": keep_content, "removed": removed}
                audit.record(session, actor, audit.EXCHANGE_REMOVE, f"exchange:{name}", details)
                return removed
