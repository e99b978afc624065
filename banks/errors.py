"""Errors of the bank and case layers, by kind, each with a stable code.

The kind tells a caller how to answer (the HTTP layer maps `invalid` to 400,
`forbidden` to 403, `not_found` to 404, `conflict` to 409); the code tells
scripts what happened.
"""

from typing import Literal

from hashers.errors import CodedError

ErrorKind = Literal["invalid", "forbidden", "not_found", "conflict"]


class DomainError(CodedError):
    kind: ErrorKind = "invalid"
    code = "invalid_request"


class InvalidInput(DomainError):
    kind = "invalid"


class Forbidden(DomainError):
    kind = "forbidden"
    code = "forbidden"


class NotFound(DomainError):
    kind = "not_found"
    code = "not_found"


class Conflict(DomainError):
    kind = "conflict"
    code = "conflict"


class BankNotFound(NotFound):
    code = "bank_not_found"


class ContentNotFound(NotFound):
    code = "content_not_found"


class BankExists(Conflict):
    code = "bank_exists"
