"""Errors of the review layer (kinds shared with `banks.errors`)."""

from banks.errors import Conflict, Forbidden, NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"


class CaseClosed(Conflict):
    code = "case_closed"


class CaseHeld(Conflict):
    """Another reviewer holds the case under a lease that has not run out."""

    code = "case_held"


class NotAllowed(Forbidden):
    """The rules of review forbid this person this step (e.g. approving their own decision)."""

    code = "not_allowed"
