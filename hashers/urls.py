"""URLs as URL blocklists compare them: canonical form and lookup expressions.

The rules are those of the Safe Browsing "URLs and Hashing" specification,
which exchanges and blocklists share: a URL is cleaned and unescaped until
stable, its host reduced to one spelling (every IPv4 notation to dotted
decimal, international names to punycode), its path resolved, and what
remains escaped again. A list entry then matches a URL when it equals one of
the URL's *expressions*: up to five host suffixes times up to six path
prefixes, so an entry for a domain or a folder covers everything under it.

Pure functions on strings: no network, no DNS.
"""

from __future__ import annotations

import contextlib
import re
import string
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from core.errors import InvalidSignal

#: Longest URL taken (longer ones are refused, not cut).
MAX_LENGTH = 8192
#: Host suffixes and path prefixes an expression list takes at most (besides the
#: exact host and the exact path).
HOST_SUFFIXES = 4
PATH_PREFIXES = 4
_REMOVED = re.compile("[\t\r\n]")
_DOTS = re.compile(r"\.{2,}")
_SLASHES = re.compile("/{2,}")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")


@dataclass(frozen=True)
class CanonicalURL:
    """A canonical URL's parts: `scheme://host/path?query` with `path` starting with
    `/` and `query` None when there was no `?`."""

    scheme: str
    host: str
    path: str
    query: str | None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.expression}"

    @property
    def expression(self) -> str:
        """The whole URL as a lookup expression: `host/path?query`, no scheme."""
        query = "" if self.query is None else f"?{self.query}"
        return f"{self.host}{self.path}{query}"

    @classmethod
    def from_expression(cls, expression: str) -> CanonicalURL:
        """The parts of an expression this module wrote (no checks, no unescaping)."""
        host, _, rest = expression.partition("/")
        path, question, query = f"/{rest}".partition("?")
        return cls("http", host, path, query if question else None)

    @property
    def is_ip(self) -> bool:
        return is_ipv4(self.host)

    def expressions(self) -> list[str]:
        """`host/path` strings a list entry may equal to match this URL, most specific
        first: each host suffix with each path prefix."""
        paths = self.path_prefixes()
        return [host + path for host in self.host_suffixes() for path in paths]

    def host_suffixes(self) -> list[str]:
        """The host itself, then the domains formed from its last five components by
        dropping leading ones, down to two components (none for an IP address)."""
        hosts = [self.host]
        if self.is_ip:
            return hosts
        parts = self.host.split(".")
        tail = parts[-5:]
        for start in range(len(tail) - 1):
            candidate = ".".join(tail[start:])
            if candidate not in hosts and len(hosts) <= HOST_SUFFIXES:
                hosts.append(candidate)
        return hosts

    def path_prefixes(self) -> list[str]:
        """The path with its query, the path alone, then `/` and each leading folder."""
        paths = []
        if self.query is not None:
            paths.append(f"{self.path}?{self.query}")
        paths.append(self.path)
        folders = self.path.split("/")[1:-1]
        prefix = "/"
        prefixes = [prefix]
        for folder in folders[: PATH_PREFIXES - 1]:
            prefix += folder + "/"
            prefixes.append(prefix)
        for candidate in prefixes:
            if candidate not in paths:
                paths.append(candidate)
        return paths


def canonicalize(url: str | bytes) -> CanonicalURL:
    """The canonical form of `url`; InvalidSignal when it has no host to speak of.

    Text is taken as UTF-8; bytes as they are (the specification's examples
    are bytes, some of them not UTF-8).
    """
    if isinstance(url, str):
        url = url.encode("utf-8")
    if not isinstance(url, bytes):
        raise InvalidSignal("a url must be text", code="invalid_url")
    text = _REMOVED.sub("", url.decode("latin-1").strip(" "))
    if not text or len(text) > MAX_LENGTH:
        raise InvalidSignal(f"a url must be 1 to {MAX_LENGTH} characters", code="invalid_url")
    text = text.split("#", 1)[0]
    text = _unescape_fully(text)
    found = _SCHEME.match(text)
    scheme = found.group(1).lower() if found else "http"
    rest = text[found.end() :] if found else text
    authority, slash, tail = _split_authority(rest)
    host = _host(authority)
    path, question, query = (slash + tail).partition("?")
    return CanonicalURL(
        scheme=scheme,
        host=_escape(host),
        path=_escape(_path(path)),
        query=_escape(query) if question else None,
    )


def _unescape_fully(text: str) -> str:
    """Percent-unescape until nothing changes (bytes, so a lone % survives)."""
    data = text.encode("latin-1")
    while True:
        unescaped = unquote_to_bytes(data)
        if unescaped == data:
            return data.decode("latin-1")
        data = unescaped


def _split_authority(rest: str) -> tuple[str, str, str]:
    for index, char in enumerate(rest):
        if char in "/?":
            if char == "?":
                return rest[:index], "/", rest[index:]
            return rest[:index], "/", rest[index + 1 :]
    return rest, "/", ""


def _host(authority: str) -> str:
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        raise InvalidSignal("IPv6 hosts are not taken in url signals", code="invalid_url")
    host = host.split(":", 1)[0]
    # Lower case for ASCII letters only: the other characters are still UTF-8 bytes.
    host = _DOTS.sub(".", host.strip(".")).translate(_ASCII_LOWER)
    if not host:
        raise InvalidSignal("a url needs a host", code="invalid_url")
    address = _ipv4(host)
    if address is not None:
        return address
    if any(ord(char) > 127 for char in host):
        # A name IDNA cannot take stays as it is, and is escaped.
        with contextlib.suppress(UnicodeError, ValueError):
            host = host.encode("latin-1").decode("utf-8").encode("idna").decode("ascii")
    return host


def is_ipv4(host: str) -> bool:
    """Whether a canonical host is an IPv4 address."""
    return _ipv4(host) == host


def _ipv4(host: str) -> str | None:
    """Dotted decimal for any IPv4 spelling (decimal, octal, hex; 1 to 4 parts), else None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                if not part.isdigit():
                    return None
                numbers.append(int(part))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def _path(path: str) -> str:
    """`.` and `..` resolved, runs of slashes made one; a trailing slash kept."""
    segments: list[str] = []
    pieces = _SLASHES.sub("/", path).split("/")[1:]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if piece == ".":
            if last:
                segments.append("")
            continue
        if piece == "..":
            if segments:
                segments.pop()
            if last:
                segments.append("")
            continue
        segments.append(piece)
    return "/" + "/".join(segments)


def _escape(text: str) -> str:
    """Escape control characters, space, non-ASCII, `#` and `%` (upper-case hex)."""
    return "".join(
        f"%{ord(char):02X}" if ord(char) <= 32 or ord(char) >= 127 or char in "#%" else char
        for char in text
    )
