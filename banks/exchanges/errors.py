"""Errors exchange adapters raise."""


class ExchangeError(Exception):
    """The exchange could not be reached or refused the request; the sync retries later."""


class MalformedResponse(ExchangeError):
    """The exchange answered, but with something that cannot be parsed."""
