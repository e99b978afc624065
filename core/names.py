"""The names of states and roles, each spelled once.

They are string enums: a member is the very string the database stores and
the API shows (`CaseStatus.OPEN == "open"`), so rows and JSON written before
these existed read the same.
"""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    #: Waiting for a reviewer.
    OPEN = "open"
    #: Sent to another queue (or a named reviewer) for a further look; still unresolved.
    ESCALATED = "escalated"
    #: Decided, not yet in effect: inside the undo window or awaiting a second reviewer.
    PENDING = "pending"
    #: Its decision took effect.
    CLOSED = "closed"


#: Cases a reviewer may still work.
OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.ESCALATED)


class Verdict(StrEnum):
    """What a reviewer decides about a case."""

    CONFIRM = "confirm"
    REJECT = "reject"
    ESCALATE = "escalate"


class DecisionState(StrEnum):
    #: Inside the undo window.
    PENDING = "pending"
    #: The two-person rule: a second reviewer must agree first.
    AWAITING_SECOND = "awaiting_second"
    #: Acted on: the case closed, the webhook and the feedback were queued.
    EFFECTIVE = "effective"
    #: Taken back before it took effect.
    UNDONE = "undone"


class Role(StrEnum):
    """What a token or a console account may do (an admin may do everything)."""

    ADMIN = "admin"
    CURATOR = "curator"
    REVIEWER = "reviewer"
    INGEST = "ingest"
    EXCHANGE = "exchange"


class DeliveryStatus(StrEnum):
    """Where one webhook delivery to the platform stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    #: Its retries are exhausted.
    FAILED = "failed"


class FeedbackStatus(StrEnum):
    """Where one piece of feedback to an exchange stands."""

    PENDING = "pending"
    SENT = "sent"
    #: Its retries are exhausted.
    FAILED = "failed"
    #: The exchange takes no feedback, or feedback is turned off for it.
    UNSUPPORTED = "unsupported"


class ReportState(StrEnum):
    """Where one report to a reporting service (NCMEC's CyberTipline) stands."""

    #: Waiting for its next step (the first, or a retry after a failure).
    QUEUED = "queued"
    #: Steps are being taken: the service may hold an open report for it.
    SUBMITTING = "submitting"
    #: The service has it: finished, never to be sent again.
    FINISHED = "finished"
    #: Given up after its retries; a person must look.
    FAILED = "failed"
    #: Cancelled at the service before it was finished.
    RETRACTED = "retracted"
