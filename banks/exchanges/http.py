"""A small HTTP client for exchange adapters: timeouts, retries, no leaked secrets.

Connection failures, timeouts, HTTP 429 and 5xx are retried with exponential
backoff; other 4xx answers are the caller's mistake and fail at once. Every
error message has the configured secrets (and any `access_token` in a URL)
replaced, because messages end up in logs and in the exchange's status.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from banks.exchanges.errors import ExchangeError, MalformedResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s]+")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]


class HttpClient:
    def __init__(
        self,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.secrets = tuple(s for s in secrets if s)
        self.sleep = sleep

    def redact(self, text: str) -> str:
        text = _TOKEN_IN_URL.sub(r"\1***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
            text = text.replace(urllib.parse.quote(secret, safe=""), "***")
        return text

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        if params:
            query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        request = urllib.request.Request(url, data=body, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        last_problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return Response(answer.status, answer.read(), dict(answer.headers))
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode(errors="replace")
                last_problem = f"HTTP {exc.code} from {method} {url}: {detail}"
                if exc.code not in RETRY_STATUSES:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last_problem = f"{method} {url} failed: {reason}"
        raise ExchangeError(self.redact(last_problem))

    def get_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("GET", url, **kwargs)
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise MalformedResponse(self.redact(f"{url} did not answer JSON: {exc}")) from None

    def get_xml(self, url: str, **kwargs: Any) -> ElementTree.Element:
        response = self.request("GET", url, **kwargs)
        return parse_xml(response.body, self.redact(url))


def parse_xml(body: bytes, where: str) -> ElementTree.Element:
    """The document root with namespaces stripped from every tag.

    Entity expansion is refused: an exchange's answer is untrusted input.
    """
    if b"<!DOCTYPE" in body[:1024].upper() or b"<!ENTITY" in body[:4096].upper():
        raise MalformedResponse(f"{where} answered XML with a document type, which is refused")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise MalformedResponse(f"{where} did not answer XML: {exc}") from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root
