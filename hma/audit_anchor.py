"""Anchoring the audit chain outside the database: an append-only checkpoint file.

Every transaction that recorded an entry appends that entry's id and hash
once it has committed; the jobs process appends the verified head every
`CHECKPOINT_SECONDS`, and `hma audit checkpoint` on demand. The first line
the file gets says from which entry on the log is keyed (`audit.KeyedFrom`).
`hma audit verify` checks the chain and then that the log still passes
through every head written down, which catches what the keyed chain alone
cannot: someone holding the key who rewrote the log, entries removed from
its end, and someone without the key who marked every entry unkeyed and
re-chained the log with plain SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from core.errors import CheckpointsUnreadable
from database import audit, utcnow
from hma.private_files import append_private

#: How often the jobs process writes a verified checkpoint.
CHECKPOINT_SECONDS = 3600


@dataclass(frozen=True)
class Anchors:
    """What the checkpoint file holds."""

    keyed_from: audit.KeyedFrom | None = None
    checkpoints: list[audit.Checkpoint] = field(default_factory=list)


class AuditAnchor:
    """The checkpoint file of one deployment (one per host where replicas run apart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._says_keyed = False

    def read(self) -> Anchors:
        if not self.path.exists():
            return Anchors()
        keyed_from: audit.KeyedFrom | None = None
        points = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                found = audit.KeyedFrom.from_line(line)
                if found is None:
                    points.append(audit.Checkpoint.from_line(line))
                elif keyed_from is None or found.entry_id < keyed_from.entry_id:
                    keyed_from = found
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointsUnreadable(
                    f"{self.path}, line {number}: not a checkpoint ({exc})"
                ) from None
        return Anchors(keyed_from, points)

    def append(self, point: audit.Checkpoint, keyed: bool) -> None:
        """Write `point` down; before the first keyed one, the record that the log is
        keyed from that entry on."""
        if keyed and not self._says_keyed:
            if self.read().keyed_from is None:
                since = audit.KeyedFrom(max(point.entry_id, 1), utcnow())
                append_private(self.path, since.to_line())
            self._says_keyed = True
        append_private(self.path, point.to_line())

    def write_head(self, session: Session) -> audit.Checkpoint | None:
        """Append the head of the intact chain (None, and nothing written, when the
        chain is broken: a broken head is no anchor)."""
        point = audit.checkpoint(session, self.read().keyed_from)
        if point is not None:
            self.append(point, keyed=audit.chain_key(session) is not None)
        return point

    def follow(self, sessions: sessionmaker[Session]) -> None:
        """Append the newest entry of each transaction of these sessions that recorded
        one, once it has committed: entries cut from the end leave a trace."""

        def committed(session: Session) -> None:
            entry = audit.recorded(session)
            if entry is not None:
                at = utcnow().isoformat(timespec="seconds")
                self.append(audit.Checkpoint(entry.id, entry.hash, at), entry.keyed)

        def rolled_back(session: Session) -> None:
            audit.recorded(session)

        event.listen(sessions, "after_commit", committed)
        event.listen(sessions, "after_rollback", rolled_back)
