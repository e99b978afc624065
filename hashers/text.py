"""Links in free text, including the defanged spellings people use to stop them
being clicked (`hxxp://example[.]com`), and defanging for display.

Found links are returned as written once refanged; `hashers.urls` makes them
canonical. A bare name (`example.com/path`, no scheme) counts only when its
last label is a top-level domain the Public Suffix List knows, so `e.g.` and
`file.txt` in ordinary prose are not taken for links.
"""

from __future__ import annotations

import re

from hashers.domains import suffix_list

#: Defanged spellings and what they stand for (case-blind).
_REFANG = [
    (re.compile(r"\b(h[tx]{2}p)(s?)(?:\[:\]|\(:\)|:)//", re.I), lambda m: f"http{m.group(2)}://"),
    (re.compile(r"\b(?:fxp|fxxp)://", re.I), lambda _m: "ftp://"),
    (re.compile(r"\[:?//\]|\[://\]", re.I), lambda _m: "://"),
    (re.compile(r"\s?(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s?", re.I), lambda _m: "."),
    (re.compile(r"\[/\]"), lambda _m: "/"),
]
_WITH_SCHEME = re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+", re.I)
_BARE = re.compile(
    r"(?<![\w@./-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})"
    r"(?::\d{1,5})?(?:/[^\s<>\"']*)?",
    re.I,
)
_TRAILING = ".,;:!?)]}>'\""
#: At most this many links are taken from one text.
MAX_LINKS = 1_000


def refang(text: str) -> str:
    """`text` with defanged link spellings written plainly again."""
    for pattern, plain in _REFANG:
        text = pattern.sub(plain, text)
    return text


def links_in(text: str) -> list[str]:
    """Every link in `text`, in order, each once (refanged, trailing punctuation cut)."""
    plain = refang(text)
    found: dict[str, None] = {}
    taken: list[tuple[int, int]] = []
    for match in _WITH_SCHEME.finditer(plain):
        found.setdefault(_trim(match.group()))
        taken.append(match.span())
    for match in _BARE.finditer(plain):
        if any(start <= match.start() < end for start, end in taken):
            continue
        tld = match.group(1).rsplit(".", 1)[-1].lower()
        if suffix_list().publicsuffix(tld) is None:
            continue
        found.setdefault(_trim(match.group()))
    return [link for link in found if link][:MAX_LINKS]


def _trim(link: str) -> str:
    while link and link[-1] in _TRAILING:
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break
        link = link[:-1]
    return link


def defang(link: str) -> str:
    """A link that no screen, mail client or chat will make clickable: the scheme
    as `hxxp`, every dot in the host as `[.]`."""
    scheme, sep, rest = link.partition("://")
    if not sep:
        scheme, rest = "", link
    host, slash, tail = rest.partition("/")
    host = host.replace(".", "[.]")
    shown_scheme = re.sub("(?i)^h(tt|xx)p", "hxxp", scheme) if scheme else ""
    prefix = f"{shown_scheme}://" if scheme else ""
    return f"{prefix}{host}{slash}{tail}"


def defang_account(value: str) -> str:
    """An account signal shown so that nothing makes it a mail link: an email
    address's `@` and the dots of its domain bracketed (`kind:` prefix kept)."""
    kind, colon, rest = value.partition(":")
    if kind != "email" or not colon:
        return value
    local, at, domain = rest.rpartition("@")
    if not at:
        return value
    return f"email:{local}[@]{domain.replace('.', '[.]')}"
