"""The access log of `hma serve`: one line a request, written cheaply.

Gunicorn's own access logger builds a dictionary of some forty fields (every
request header among them) for each request before formatting the few its
default format uses; under load that took a tenth of a worker's time
holding the GIL. This logger writes the same combined-format line, plus the
time the request took, from the handful of values it needs. The request
target is the path as routed, never the raw request line: a token in the
path has left it by then (`hma.web.path_token`).
"""

from __future__ import annotations

import traceback
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from hma.web.path_token import logged_target


class AccessLogger(Logger):  # type: ignore[misc]
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = resp.sent if getattr(resp, "sent", None) is not None else "-"
        millis = request_time.seconds * 1000 + request_time.microseconds // 1000
        line = (
            f"{environ.get('REMOTE_ADDR', '-')} - - {self.now()}"
            f' "{environ["REQUEST_METHOD"]} {logged_target(environ)} {environ["SERVER_PROTOCOL"]}"'
            f' {status} {sent} "{environ.get("HTTP_REFERER", "-")}"'
            f' "{environ.get("HTTP_USER_AGENT", "-")}" {millis}ms'
        )
        try:
            # No arguments: the line is not %-formatted, so a '%' in a URL is safe.
            self.access_log.info(line)
        except Exception:
            self.error(traceback.format_exc())
