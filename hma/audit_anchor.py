"""Anchoring the audit chain outside the database: checkpoints in an append-only file.

The jobs process writes one every `CHECKPOINT_SECONDS`, and `hma audit
checkpoint` writes one on demand. `hma audit verify` checks the chain and
then that the log still passes through every head written down, which
catches what the keyed chain alone cannot: someone holding the key who
rewrote the log, and entries removed from its end before the last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from actioners import audit
from core.errors import CheckpointsUnreadable
from hma.private_files import append_private
from hma.settings import Settings

#: How often the jobs process writes a checkpoint.
CHECKPOINT_SECONDS = 3600


def write_checkpoint(session: Session, settings: Settings) -> audit.Checkpoint | None:
    """Append the head of the intact chain to the checkpoint file (None, and nothing
    written, when the chain is broken: a broken head is no anchor)."""
    point = audit.checkpoint(session)
    if point is not None:
        append_private(settings.audit_checkpoints, point.to_line())
    return point


def read_checkpoints(path: Path) -> list[audit.Checkpoint]:
    if not path.exists():
        return []
    points = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            points.append(audit.Checkpoint.from_line(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointsUnreadable(
                f"{path}, line {number}: not a checkpoint ({exc})"
            ) from None
    return points
