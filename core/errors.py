"""Every error class of the project, in one place at the bottom of the dependency graph.

All of them derive from `ProjectError`, so that "anything this project raised on
purpose" is one `except` clause and one test. Each error a caller can be told
about carries a stable `code` for programs and a message for people
(`CodedError`); its kind says how the HTTP layer answers it (`invalid` 400,
`forbidden` 403, `not_found` 404, `conflict` 409, `limited` 429, `busy` 503).
Other errors here are internal: a remote service failing, a configuration that
cannot be read; they keep the built-in base (ValueError, RuntimeError) callers
may expect too.
"""

from __future__ import annotations

from typing import Literal

# The root, the base of what callers are told, and hashing --------------------------------


class ProjectError(Exception):
    """The root of every error this project defines (the layers' own and the HTTP
    layer's alike); an exception of any other class is a defect or comes from below."""


class CodedError(ProjectError):
    """An error with a stable `code` for programs and a message for people.

    Every layer's errors derive from this, so that callers can report any of
    them the same way.
    """

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class HashingError(CodedError):
    """Base class: something about the input prevents hashing it."""

    code = "hashing_failed"


class MediaError(HashingError):
    """The bytes are not media we can decode: empty, corrupt, unsupported or over a limit."""

    code = "unsupported_media"


class MediaTooLarge(MediaError):
    """The input exceeds a size limit (bytes, pixels, frames or duration)."""

    code = "media_too_large"


class InvalidSignal(HashingError):
    """A signal value that does not fit its type (bad length, not hex, ...)."""

    code = "invalid_signal"


class UnknownSignalType(HashingError):
    """A signal type name that no installed signal type claims."""

    code = "unknown_signal_type"


class TextTooLarge(HashingError):
    """Text to scan over the configured size (`max_text_bytes`)."""

    code = "text_too_large"


# Banks and cases: kinds the HTTP layer maps to statuses --------------------------------


ErrorKind = Literal["invalid", "forbidden", "not_found", "conflict", "limited", "busy"]


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


class Busy(DomainError):
    """A limit of this process is reached for now; the same request may succeed shortly."""

    kind = "busy"
    code = "busy"


class BankNotFound(NotFound):
    code = "bank_not_found"


class ContentNotFound(NotFound):
    code = "content_not_found"


class BankExists(Conflict):
    code = "bank_exists"


# Review --------------------------------------------------------------------------------


class CaseNotFound(NotFound):
    code = "case_not_found"


class CaseClosed(Conflict):
    code = "case_closed"


class CaseHeld(Conflict):
    """Another reviewer holds the case under a lease that has not run out."""

    code = "case_held"


class ExposureLimitReached(DomainError):
    """A reviewer has seen as many cases' media this hour as their limit allows."""

    kind: ErrorKind = "limited"
    code = "exposure_limit"


class NotAllowed(Forbidden):
    """The rules of review forbid this person this step (e.g. approving their own decision)."""

    code = "not_allowed"


# Exchanges -----------------------------------------------------------------------------


class ExchangeError(ProjectError):
    """The exchange could not be reached or refused the request; the sync retries later."""


class MalformedResponse(ExchangeError):
    """The exchange answered, but with something that cannot be parsed."""


# Reporting ------------------------------------------------------------------------------


class ReportingFailed(ProjectError):
    """A reporting service (NCMEC's CyberTipline) refused a call or could not be reached.

    `response_code` is the service's own code when it answered one (never 0),
    `http_status` the HTTP status when an answer came at all.
    """

    def __init__(
        self, message: str, *, response_code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.response_code = response_code
        self.http_status = http_status


# Outbound requests ---------------------------------------------------------------------


class EgressRefused(InvalidInput):
    """The policy forbids this destination; nothing was sent."""

    code = "egress_refused"


class EgressFailed(ProjectError):
    """The request went out (or tried to) and did not bring back an answer.

    `sent` is False when the failure came before any byte of the request left
    (name resolution, connecting): such a request is safe to try again
    whatever its method.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class ResponseTooLarge(EgressFailed):
    """The answer was longer than the caller's limit; reading stopped there."""


# Accounts ------------------------------------------------------------------------------


class LoginFailed(Forbidden):
    code = "login_failed"


class UserNotFound(NotFound):
    code = "user_not_found"


class RenewalRefused(InvalidInput):
    code = "renewal_refused"


# Hashing processes ---------------------------------------------------------------------


class HasherCrashed(HashingError):
    code = "hasher_crashed"


# Fetching media by URL -----------------------------------------------------------------


class UrlNotAllowed(InvalidInput):
    code = "url_not_allowed"


class UrlFetchFailed(InvalidInput):
    code = "url_fetch_failed"


class FetchesBusy(Busy):
    """As many URL fetches are under way in this process as it lets run at once."""

    code = "fetches_busy"


# Serving -------------------------------------------------------------------------------


class PortTaken(Conflict):
    """Another process listens on the address `hma serve` was asked to serve on."""

    code = "port_taken"


# Settings ------------------------------------------------------------------------------


class SettingsError(ProjectError, ValueError):
    """A setting is unknown or has a value of the wrong type or out of range."""


# Secrets -------------------------------------------------------------------------------


class CredentialsUnreadable(SettingsError, ExchangeError):
    """Stored credentials do not decrypt with the configured key.

    An exchange error too, so that a sync or a feedback run records it in the
    exchange's status (and retries later) instead of failing as a whole.
    """


# Audit checkpoints ---------------------------------------------------------------------


class CheckpointsUnreadable(ProjectError, ValueError):
    """The checkpoint file has a line that is not a checkpoint."""


# The database --------------------------------------------------------------------------


class SchemaOutdated(ProjectError, RuntimeError):
    """The database was created by an older release; `hma db upgrade` brings it forward."""


# The taxonomy --------------------------------------------------------------------------


class TaxonomyError(ProjectError, ValueError):
    """The taxonomy file is missing, unreadable or malformed."""


# Exchange feedback ---------------------------------------------------------------------


class FeedbackUnsupported(ProjectError):
    """This exchange takes no feedback."""
