"""The program taxonomy: normalising tags and checking what may be shared.

Loaded from TOML (`config/taxonomy.toml` unless the deployment names its own),
because the taxonomy changes over time and must not need a release.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, TaxonomyError

_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class Taxonomy:
    primary: frozenset[str]
    supplemental: frozenset[str]
    prefixes: tuple[str, ...]
    highest_severity: frozenset[str]
    #: Tags whose confirmation is reported (`actioners.reporting`).
    reportable: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        """The taxonomy at `path`, or the one shipped in `config/`."""
        try:
            if path is None:
                text = (files("config") / "taxonomy.toml").read_text()
                where = "the shipped taxonomy"
            else:
                text = Path(path).read_text()
                where = str(path)
            data: dict[str, Any] = tomllib.loads(text)
            return cls(
                primary=frozenset(data["primary"]["tags"]),
                supplemental=frozenset(data["supplemental"]["tags"]),
                prefixes=tuple(data["supplemental"].get("prefixes", ())),
                highest_severity=frozenset(data.get("severity", {}).get("highest", ())),
                reportable=frozenset(data.get("reporting", {}).get("reportable", ())),
            )
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise TaxonomyError(f"cannot load the taxonomy from {where}: {exc}") from exc

    def normalize(self, tag: str) -> str:
        """The taxonomy's spelling of `tag` when it names one; otherwise `tag` unchanged."""
        cleaned = tag.strip()
        for prefix in self.prefixes:
            if cleaned.lower().startswith(prefix):
                return prefix + cleaned[len(prefix) :].strip()
        candidate = _SEPARATORS.sub("_", cleaned.lower())
        if candidate in self.primary or candidate in self.supplemental:
            return candidate
        return cleaned

    def normalize_all(self, tags: Iterable[str]) -> list[str]:
        """Normalised tags, duplicates dropped, order kept."""
        out: list[str] = []
        for tag in tags:
            normal = self.normalize(tag)
            if normal and normal not in out:
                out.append(normal)
        return out

    def is_primary(self, tag: str) -> bool:
        return tag in self.primary

    def check_shareable(self, tags: Iterable[str]) -> None:
        """Refuse tags that could not be shared: at least one primary tag is required."""
        given = list(tags)
        if any(self.is_primary(tag) for tag in given):
            return
        detail = f"it has only {', '.join(given)}" if given else "it has no tags"
        raise InvalidInput(
            f"a shared signal needs at least one primary taxonomy tag ({detail});"
            " supplemental tags cannot stand alone",
            code="missing_primary_tag",
        )


@cache
def shipped_taxonomy() -> Taxonomy:
    """The taxonomy in config/taxonomy.toml, loaded once (for callers given none)."""
    return Taxonomy.load()
