"""The HTTP client of exchange adapters: the egress policy, retries, no leaked secrets.

Requests go out through `banks.egress` (address checks, deadline, size
limit). On top of that:

- Retries: connection failures, timeouts, 429 and 5xx are retried with
  exponential backoff, waiting at least what a `Retry-After` header asks
  (up to `MAX_RETRY_AFTER_SECONDS`). A request that is not idempotent (a
  POST of feedback) is retried only when nothing of it was sent, or when
  the exchange answered 429 (it did not take the request): a timeout after
  sending may have been processed, and repeating it could report twice.
- Credentials are bound to the origin of the exchange's address: a request
  to another origin that would carry them is refused, and redirects to
  another origin drop them (see `banks.egress`).
- Error messages never carry a secret, a query string or a response body:
  they end up in logs and in the exchange's status, which curators read.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from banks.egress import Egress, Response, location_origin, origin, shown_url
from core.backoff import Backoff
from core.errors import (
    EgressFailed,
    EgressRefused,
    ExchangeError,
    MalformedResponse,
    ResponseTooLarge,
)

__all__ = ["HttpClient", "Response", "parse_xml"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Longest `Retry-After` honoured; an exchange asking for more fails this sync
#: and is tried again at its next interval.
MAX_RETRY_AFTER_SECONDS = 300.0
#: Largest answer read from an exchange API (one page of records).
PAGE_MAX_BYTES = 64 * 1024 * 1024
USER_AGENT = "hma-exchange"
_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s]+")


class HttpClient:
    def __init__(
        self,
        egress: Egress,
        *,
        origin_url: str | None = None,
        timeout: float = 30.0,
        deadline: float = 600.0,
        retries: int = 3,
        backoff: float = 1.0,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.egress = egress
        self.origin = location_origin(origin_url) if origin_url else None
        self.timeout = timeout
        self.deadline = deadline
        self.retries = retries
        self.backoff = Backoff(first=backoff)
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
        max_bytes: int = PAGE_MAX_BYTES,
        any_status: bool = False,
    ) -> Response:
        """The answer to one request, retried as the module says; `ExchangeError` when
        none came, or (unless `any_status`: then the caller reads it) when it is not 2xx."""
        if params:
            query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        self._keep_credentials_home(url, sent, body, auth is not None)
        idempotent = method.upper() in IDEMPOTENT_METHODS
        problem = ""
        wait = 0.0
        last: Response | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(wait)
            wait = self.backoff.after(attempt + 1)
            try:
                answer = self.egress.send(
                    method,
                    url,
                    headers=sent,
                    body=body,
                    timeout=self.timeout,
                    deadline=self.deadline,
                    max_bytes=max_bytes,
                )
            except (EgressRefused, ResponseTooLarge) as exc:
                raise ExchangeError(self.redact(str(exc))) from None
            except EgressFailed as exc:
                problem = str(exc)
                if exc.sent and not idempotent:
                    break
                continue
            if 200 <= answer.status < 300:
                return answer
            last = answer
            problem = f"HTTP {answer.status} from {method} {shown_url(answer.url)}"
            retryable = answer.status == 429 or (idempotent and answer.status in RETRY_STATUSES)
            if not retryable:
                break
            asked = _retry_after(answer.headers.get("retry-after"))
            if asked is not None and asked > MAX_RETRY_AFTER_SECONDS:
                problem += f" (asked to retry after {asked:.0f} s)"
                break
            wait = max(wait, asked or 0.0)
        if any_status and last is not None:
            return last
        raise ExchangeError(self.redact(problem))

    def _keep_credentials_home(
        self, url: str, headers: Mapping[str, str], body: bytes | None, has_auth: bool
    ) -> None:
        """Refuse to send this exchange's credentials anywhere but its own origin."""
        if self.origin is None or origin(url) == self.origin:
            return
        carried = [url, *headers.values(), (body or b"").decode("utf-8", "replace")]
        if has_auth or any(secret in text for secret in self.secrets for text in carried):
            raise ExchangeError(
                f"refused to send this exchange's credentials to {shown_url(url)}, which is not"
                " the origin they were entered for"
            )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("GET", url, **kwargs)
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise MalformedResponse(
                self.redact(f"{shown_url(url)} did not answer JSON: {exc}")
            ) from None

    def get_xml(self, url: str, **kwargs: Any) -> Element:
        response = self.request("GET", url, **kwargs)
        return parse_xml(response.body, shown_url(url))


#: Shorter parts of a credential (a user name, say) are not worth redacting.
MIN_SECRET_PART = 6


def secret_parts(secret: str | None) -> list[str]:
    """A credential and the keys it is made of (`user:password`, `APPID|SECRET`,
    StopNCII's three keys), each of which a client may send on its own: what
    `HttpClient` redacts from its errors."""
    if not secret:
        return []
    parts = secret.replace("|", ":").split(":")
    return [secret, *(part for part in parts if len(part) >= MIN_SECRET_PART)]


def _retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date), if any."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def parse_xml(body: bytes, where: str) -> Element:
    """The document root with namespaces stripped from every tag.

    Document types and entities are refused (defusedxml): an exchange's
    answer is untrusted input.
    """
    try:
        root: Element = SafeElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise MalformedResponse(
            f"{where} answered XML with a document type or entities, which is refused"
        ) from None
    except ParseError as exc:
        raise MalformedResponse(f"{where} did not answer XML: {exc}") from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root
