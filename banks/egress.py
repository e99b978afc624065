"""The one way out: every outbound HTTP request goes through `Egress`.

Exchanges, webhooks and `{"url": ...}` fetches reach addresses a curator,
an operator or a client names. One policy decides where they may go:

- public addresses only, unless an address (or network, optionally with a
  port) is on the `egress_allow` list: the check runs on the address the
  name resolves to, immediately before connecting to exactly that address,
  so a name that resolves (or re-resolves) somewhere internal is refused
  before a byte is sent;
- no local files, except regular files inside the import folder the
  operator names (`import_folder`);
- a total deadline per request, redirects included, over connecting, the
  headers and the body alike: a peer that trickles a byte at a time is cut
  off when the deadline passes (its socket shut from a timer), however
  often it sends; and a limit on the size of every answer, checked as it
  streams in (after decompression);
- credentials stay with their origin: a redirect to another origin carries
  only the headers that cannot hold one (`User-Agent`, `Accept`,
  `Content-Type`); API keys in custom headers, `Authorization` and cookies
  stay behind;
- one reading of a URL: the host, port and origin every decision is made on
  are read by the parser the connection itself uses (`urllib3`), and URLs
  that parsers read differently (a backslash, a user or a percent sign in
  the authority, control characters anywhere) are refused, whether a
  person entered them or a peer redirected to them.

Environment proxies are never used: they would connect on our behalf to
addresses this module never sees.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import parse_url

from core.errors import EgressFailed, EgressRefused, ResponseTooLarge

CHUNK = 64 * 1024
#: Redirects followed before a request fails.
MAX_REDIRECTS = 5
#: The only headers a redirect to another origin carries on.
CROSS_ORIGIN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding", "content-type"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowedPeer:
    """A private network (or one address) the operator lets requests reach, on one port or all."""

    network: Network
    port: int | None = None

    def admits(self, address: Address, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)

    @classmethod
    def parse(cls, entry: str) -> AllowedPeer:
        """A network and an optional port: `10.0.0.0/8`, `127.0.0.1:8080`, `[::1]:443`."""
        text = entry.strip()
        port: int | None = None
        try:
            if text.startswith("["):
                inside, _, rest = text[1:].partition("]")
                if rest:
                    port = int(rest.removeprefix(":")) if rest.startswith(":") else -1
                text = inside
            elif text.count(":") == 1:
                text, _, number = text.partition(":")
                port = int(number)
            if port is not None and not 0 < port < 65536:
                raise ValueError(f"port {port}")
            return cls(ipaddress.ip_network(text, strict=False), port)
        except ValueError as exc:
            raise ValueError(
                f"{entry.strip()!r} is not an address or network with an optional port"
                " (10.0.0.0/8, 127.0.0.1:8080, [::1]:443)"
            ) from exc


def parse_allowed_peers(text: str) -> tuple[AllowedPeer, ...]:
    """The comma-separated `egress_allow` setting."""
    return tuple(AllowedPeer.parse(entry) for entry in text.split(",") if entry.strip())


#: IPv6 forms that carry an IPv4 address in their last 32 bits: the well-known NAT64
#: prefix, IPv4-compatible addresses and SIIT's IPv4-translated ones.
_EMBEDDING_LAST_32_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
#: Local-use NAT64 (RFC 8215): translated inside a network, never global.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, compatible,
    translated), which is the address its packets reach."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _EMBEDDING_LAST_32_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    if address in _LOCAL_NAT64:
        return False
    inner = embedded_ipv4(address)
    if inner is not None:
        address = inner
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class EgressPolicy:
    allowed: tuple[AllowedPeer, ...] = ()
    #: The only folder local files may be read from (None: none may be).
    import_folder: Path | None = None

    def permits(self, address: str, port: int) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return is_public(ip) or any(peer.admits(ip, port) for peer in self.allowed)

    def check_url(self, url: str) -> None:
        """Refuse at once what can be refused without a network: other schemes, no
        host, an ambiguous URL, or a literal address the policy does not permit.
        Names are checked again, on what they resolve to, when a request connects."""
        target = parse_target(url)
        try:
            literal = ipaddress.ip_address(target.host)
        except ValueError:
            return
        if not self.permits(str(literal), target.port):
            raise EgressRefused(_not_permitted(target.host, str(literal), target.port))

    def local_file(self, location: str) -> Path:
        """The file `location` names inside the import folder, or a refusal.

        A file that does not exist (yet) is returned, for its reader to report;
        anything but a regular file (a device, a pipe) is refused.
        """
        if self.import_folder is None:
            raise EgressRefused(
                "reading local files is off: name a folder in the import_folder setting"
                " and place lists there"
            )
        folder = self.import_folder.resolve()
        path = Path(location.removeprefix("file://")).expanduser()
        resolved = (folder / path).resolve()
        if not resolved.is_relative_to(folder):
            raise EgressRefused(f"{location} is outside the import folder {folder}")
        if resolved.exists() and not resolved.is_file():
            raise EgressRefused(f"{location} is not a regular file")
        return resolved


def is_local(location: str) -> bool:
    """Whether `location` names a local file (a path or a file: URL) rather than a URL."""
    return urlsplit(location).scheme in ("", "file")


def shown_url(url: str) -> str:
    """A URL as it may appear in an error or a log: no user, password or query."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url[:200]
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _not_permitted(host: str, address: str, port: int) -> str:
    where = address if host == address else f"{host} ({address})"
    return (
        f"{where} is not a public address; list {address}:{port} in the egress_allow"
        " setting to let requests reach it"
    )


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]
    url: str


@dataclass(frozen=True)
class Target:
    """Where a URL leads, as the connection reads it."""

    scheme: str
    #: Lower case, IDNA-encoded, an IPv6 address without its brackets.
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


#: Characters no URL we send may hold anywhere: parsers strip, keep or encode them
#: differently, so two readers of one URL could disagree about where it leads.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
#: What may not stand in an authority: a backslash ends it for some parsers and
#: not others (`http://evil\\@good/`), and userinfo or percent-escapes are how
#: one host is dressed up as another.
_AMBIGUOUS_AUTHORITY = ("\\", "@", "%")


def parse_target(url: str) -> Target:
    """The scheme, host and port a request to `url` connects to, or `EgressRefused`.

    Every decision about a URL (address checks, credentials' origin, allowed
    hosts, redirects) is made on this reading, which is urllib3's own.
    """
    shown = shown_url(url)
    if _UNSAFE_CHARACTERS.search(url):
        raise EgressRefused(f"{shown}: the address holds spaces or control characters")
    scheme, separator, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not separator:
        raise EgressRefused(f"{shown}: only http:// and https:// addresses are allowed")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if any(mark in authority for mark in _AMBIGUOUS_AUTHORITY):
        raise EgressRefused(
            f"{shown}: the host part may not hold a user, a password, a backslash or a percent sign"
        )
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise EgressRefused(f"{shown}: not a valid address") from None
    if not parts.host:
        raise EgressRefused(f"{shown}: the address has no host")
    default = 443 if parts.scheme == "https" else 80
    return Target(str(parts.scheme), parts.host.strip("[]").lower(), parts.port or default)


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and port: what credentials are bound to (`EgressRefused` for a URL
    that cannot be sent)."""
    return parse_target(url).origin


def location_origin(location: str) -> tuple[str, str, int] | None:
    """The origin of a URL, or None for a local file (which sends nothing anywhere)."""
    return None if is_local(location) else origin(location)


class Egress:
    """Outbound HTTP under one `EgressPolicy`; one per process, shared by threads."""

    def __init__(self, policy: EgressPolicy, user_agent: str = "hma") -> None:
        self.policy = policy
        self.user_agent = user_agent
        self._pools = urllib3.PoolManager(retries=False, maxsize=4)
        self._pools.pool_classes_by_scheme = {
            "http": _pool_class(HTTPConnectionPool, HTTPConnection, policy),
            "https": _pool_class(HTTPSConnectionPool, HTTPSConnection, policy),
        }

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float,
        deadline: float | None = None,
        max_bytes: int,
        follow_redirects: bool = True,
    ) -> Response:
        """One request and its answer, whatever the status (a 3xx is followed
        unless `follow_redirects` is off). `timeout` bounds each wait for the
        network, `deadline` (seconds from now, default `timeout`) the whole."""
        ends = time.monotonic() + (deadline if deadline is not None else timeout)
        sent_headers = {"User-Agent": self.user_agent, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            self.policy.check_url(url)
            answer = self._once(method, url, sent_headers, body, timeout, ends, max_bytes)
            location = answer.headers.get("location")
            if not follow_redirects or answer.status not in _REDIRECTS or not location:
                return answer
            target = urljoin(url, location)
            try:
                leads = origin(target)
            except EgressRefused as exc:
                raise EgressRefused(
                    f"{shown_url(url)} redirected to a refused address: {exc}"
                ) from None
            if leads != origin(url):
                sent_headers = {
                    k: v for k, v in sent_headers.items() if k.lower() in CROSS_ORIGIN_HEADERS
                }
            if answer.status == 303 or (answer.status in (301, 302) and method != "HEAD"):
                method, body = ("GET" if method != "HEAD" else method), None
            url = target
        raise EgressFailed(f"more than {MAX_REDIRECTS} redirects from {shown_url(url)}", sent=True)

    def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        ends: float,
        max_bytes: int,
    ) -> Response:
        left = ends - time.monotonic()
        if left <= 0:
            raise EgressFailed(f"no answer from {shown_url(url)} within the deadline", sent=False)
        wait = urllib3.Timeout(connect=min(timeout, left), read=min(timeout, left))
        with _Cutoff(left) as cutoff:
            try:
                answer = self._pools.request(
                    method,
                    url,
                    headers=dict(headers),
                    body=body,
                    timeout=wait,
                    redirect=False,
                    preload_content=False,
                )
            except (NameResolutionError, NewConnectionError, ConnectTimeoutError) as exc:
                raise EgressFailed(
                    f"cannot connect to {shown_url(url)}: {_reason(exc)}", sent=False
                ) from None
            except (HTTPError, OSError) as exc:
                raise _failure(f"{method} {shown_url(url)}", url, exc, cutoff) from None
            try:
                return Response(
                    answer.status,
                    _read_limited(answer, url, ends, max_bytes, cutoff),
                    {k.lower(): v for k, v in answer.headers.items()},
                    url,
                )
            finally:
                answer.release_conn()


class _Cutoff:
    """The deadline of one request, enforced on its socket.

    Socket timeouts bound each wait, not the whole: a peer that sends its
    headers a byte every few seconds never lets one run out. A timer shuts
    the connection's socket when the deadline passes, so the read under way
    fails at once, whatever the peer does. The connection in use is found
    through a thread-local: urllib3 picks it (new or pooled) inside its call.
    """

    _current = threading.local()

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._connection: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Cutoff:
        _Cutoff._current.cutoff = self
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        _Cutoff._current.cutoff = None

    @classmethod
    def watch(cls, connection: Any) -> None:
        """The current request uses `connection`: shut it if its deadline has passed."""
        cutoff: _Cutoff | None = getattr(cls._current, "cutoff", None)
        if cutoff is None:
            return
        with cutoff._lock:
            cutoff._connection = connection
            if cutoff.fired:
                _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._connection is not None:
                _shut(self._connection)


def _shut(connection: Any) -> None:
    """Shut the connection's socket under any read or write in progress. The plain
    socket's shutdown, for TLS too: the TLS socket's own would tear its state down
    under the reading thread."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _read_limited(answer: Any, url: str, ends: float, max_bytes: int, cutoff: _Cutoff) -> bytes:
    declared = answer.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        answer.drain_conn()
        raise ResponseTooLarge(
            f"{shown_url(url)} answered {int(declared):,} bytes,"
            f" over the limit of {max_bytes:,} bytes",
            sent=True,
        )
    body = bytearray()
    try:
        # read1: whatever one read of the socket brings, so the deadline is
        # checked between reads (each waits at most the read timeout).
        while chunk := answer.read1(CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise ResponseTooLarge(
                    f"{shown_url(url)} answered more than the limit of {max_bytes:,} bytes",
                    sent=True,
                )
            if time.monotonic() > ends:
                raise _past_deadline(url)
    except (HTTPError, OSError) as exc:
        raise _failure(f"reading from {shown_url(url)}", url, exc, cutoff) from None
    if cutoff.fired:  # the shut socket read as the end of the answer
        raise _past_deadline(url)
    return bytes(body)


def _failure(doing: str, url: str, exc: BaseException, cutoff: _Cutoff) -> EgressFailed:
    """A request that broke off after it was sent: at its deadline, when the cutoff
    shut its socket, else for the network's own reason."""
    if cutoff.fired:
        return _past_deadline(url)
    return EgressFailed(f"{doing} failed: {_reason(exc)}", sent=True)


def _past_deadline(url: str) -> EgressFailed:
    return EgressFailed(f"{shown_url(url)} did not finish within the deadline", sent=True)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a urllib3 error, without the connection object's repr."""
    while exc.__cause__ is not None or getattr(exc, "reason", None) is not None:
        exc = exc.__cause__ or exc.reason  # type: ignore[attr-defined]
    text = str(exc)
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _pool_class(pool: type[Any], connection: type[Any], policy: EgressPolicy) -> type[Any]:
    """A connection pool whose connections vet each address before connecting to it."""

    class VettedConnection(connection):  # type: ignore[misc]
        def _new_conn(self) -> socket.socket:
            self._dns_host = _vetted_address(self, policy)
            sock: socket.socket = super()._new_conn()
            return sock

        def connect(self) -> None:
            super().connect()
            _Cutoff.watch(self)

    class VettedPool(pool):  # type: ignore[misc]
        ConnectionCls = VettedConnection

        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            _Cutoff.watch(conn)
            return conn

    VettedPool.__name__ = f"Vetted{pool.__name__}"
    return VettedPool


def _vetted_address(connection: Any, policy: EgressPolicy) -> str:
    """The first address the connection's host resolves to that the policy permits."""
    host = connection.host.strip("[]")
    try:
        found = socket.getaddrinfo(host, connection.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    addresses = [str(info[4][0]) for info in found]
    for address in addresses:
        if policy.permits(address, connection.port):
            return address
    raise EgressRefused(_not_permitted(host, ", ".join(dict.fromkeys(addresses)), connection.port))
