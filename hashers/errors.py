"""Errors the hashing layer raises, each with a stable machine-readable code.

Callers (the HTTP API, the CLI, batch jobs) turn these into their own error
shapes; the code is what scripts and tests rely on, the message is for people.
"""


class CodedError(Exception):
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
