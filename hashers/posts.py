"""The signals of a post: its text, the links in it and beside it, and accounts.

A platform scans a post the way it scans media: what it sends is turned into
signals here and matched through the same banks. The text is searched for
keywords whole and for links (defanged spellings included); each link is
looked up as a URL and by its host as a domain; accounts are normalised by
their kind's rules. Links found in the text that cannot be read as URLs are
left out (prose is not a URL list); links sent in `urls` and accounts that
do not parse are the caller's error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.errors import InvalidSignal, TextTooLarge
from hashers import URL, Signal
from hashers.accounts import normalize_account
from hashers.text import links_in


@dataclass(frozen=True)
class AccountRef:
    """An account as a caller names it: its kind (`email`, ...) and identifier."""

    type: str
    value: str


@dataclass
class Post:
    """What a caller sent about a post, besides media."""

    text: str | None = None
    urls: Sequence[str] = ()
    accounts: Sequence[AccountRef] = ()

    @property
    def empty(self) -> bool:
        return not (self.text and self.text.strip()) and not self.urls and not self.accounts


def post_signals(post: Post, max_text_bytes: int) -> list[Signal]:
    """Keyword, url, domain and account signals for `post`, each value once.

    Raises TextTooLarge over `max_text_bytes`, InvalidSignal (its code names
    the kind) for a bad entry in `urls` or `accounts`.
    """
    signals: list[Signal] = []
    if post.text is not None:
        if len(post.text.encode("utf-8", "surrogatepass")) > max_text_bytes:
            raise TextTooLarge(f"text is over the {max_text_bytes:,}-byte limit")
        if post.text.strip():
            signals.append(Signal("keyword", post.text))
    links = [URL.normalize(url) for url in post.urls]
    for link in links_in(post.text or ""):
        try:
            links.append(URL.normalize(link))
        except InvalidSignal:
            continue
    signals += _link_signals(links)
    signals += [Signal("account", normalize_account(a.type, a.value)) for a in post.accounts]
    return signals


def _link_signals(expressions: Iterable[str]) -> list[Signal]:
    """A url signal per link, and a domain signal per host."""
    seen: dict[tuple[str, str], Signal] = {}
    for expression in expressions:
        host = expression.partition("/")[0]
        for signal in (Signal("url", expression), Signal("domain", host)):
            seen.setdefault((signal.type, signal.value), signal)
    return list(seen.values())
