"""How a case's text, links and accounts reach a reviewer's screen.

Nothing from a post may become something a browser, mail client or chat
would follow: links and email addresses are defanged wherever they are shown.
A post's text is hidden until revealed, as media is blurred: before that,
only the matched words are shown, each run of other text stands as a count
of the characters it holds (the page never carries what it hides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hashers.keywords import spans
from hashers.text import defang, defang_account, links_in

#: Signal kinds shown defanged in the matches table; others are shown as stored.
SHOWN = {"url": defang, "domain": defang, "account": defang_account}


@dataclass(frozen=True)
class Piece:
    """A stretch of the post's text: shown (marked when it is a matched keyword),
    or hidden, standing as the number of characters it holds."""

    text: str = ""
    keyword: str | None = None
    hidden: int = 0


def pieces(text: str, keywords: Sequence[str], revealed: bool) -> list[Piece]:
    """The text cut at each matched keyword; the rest shown defanged when
    `revealed`, otherwise hidden."""
    out: list[Piece] = []
    at = 0
    for start, end, keyword in spans(text, list(keywords)) if keywords else ():
        out += _between(text[at:start], revealed)
        out.append(Piece(text[start:end], keyword=keyword))
        at = end
    out += _between(text[at:], revealed)
    return out


def _between(stretch: str, revealed: bool) -> Iterable[Piece]:
    if not stretch:
        return []
    if not revealed:
        return [Piece(hidden=len(stretch))]
    return [Piece(defang_links(stretch))]


def defang_links(text: str) -> str:
    """`text` with every link in it written defanged."""
    for link in sorted(links_in(text), key=len, reverse=True):
        text = text.replace(link, defang(link))
    return text


def shown_value(signal_type: str, value: str) -> str:
    """A matched value as the matches table shows it."""
    show = SHOWN.get(signal_type)
    return show(value) if show else value
