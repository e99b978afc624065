"""Errors of the review layer (kinds shared with `banks.errors`)."""

from banks.errors import Conflict, NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"


class CaseClosed(Conflict):
    code = "case_closed"
