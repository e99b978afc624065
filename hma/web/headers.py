"""Headers every response carries, and the URL converter for database ids.

The console is server-rendered with its own script and stylesheet, so the
content security policy can refuse everything else: no inline script, no
other origin, no framing (clickjacking a reviewer into a decision), no
plugins. A revealed image is sent inline as a `data:` URL, which `img-src`
allows. API responses carry the same headers; they cost nothing there and
keep a JSON error from being rendered as a page.
"""

from __future__ import annotations

from flask import Response
from werkzeug.routing import IntegerConverter

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

#: Largest id a route takes: every number of up to 18 digits, well inside what a
#: database row's signed 64-bit id can be.
MAX_ID = 10**18 - 1


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive integer a database id can be. Anything else matches
    no route (404) instead of overflowing the driver (a 500).

    The bound is in the pattern itself, not a check after it: a number the
    pattern took and the check refused would leave the router answering 405
    for the route's other methods instead of 404.
    """

    regex = r"[1-9][0-9]{0,17}"

    def __init__(self, map: object) -> None:
        super().__init__(map, min=1, max=MAX_ID)  # type: ignore[arg-type]
