"""The house's rules, checked on the source: which folder may import which, where
Flask may appear, and that every error the project defines has one root.

docs/architecture.md states the same table; a change to one is a change to both.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from core.errors import ProjectError

ROOT = Path(__file__).resolve().parent.parent

#: The project's packages a package may import (besides itself and libraries).
MAY_IMPORT = {
    "core": set(),
    "database": {"core"},
    "hashers": {"core"},
    "matchers": {"core", "hashers"},
    "banks": {"core", "database", "hashers", "matchers"},
    "actioners": {"core", "database", "hashers", "matchers", "banks"},
    "accounts": {"core", "database", "hashers", "matchers", "banks", "actioners"},
    "hma": {"core", "database", "hashers", "matchers", "banks", "actioners", "accounts"},
}
PACKAGES = set(MAY_IMPORT)
#: Libraries of the shell only: the layers below know nothing of the web or the CLI.
SHELL_LIBRARIES = {"flask", "werkzeug", "click", "gunicorn", "apscheduler"}
#: Libraries the pure libraries never use: they run in a notebook without a database.
STORAGE_LIBRARIES = {"sqlalchemy", "alembic", "psycopg"}


def _sources(package: str) -> list[Path]:
    return sorted(
        path
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def _imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_down_only(package):
    sources = _sources(package)
    assert sources, f"no sources found under {package}/"
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources
        for name in _imports(path) & PACKAGES
        if name != package and name not in MAY_IMPORT[package]
    }
    assert not wrong, sorted(wrong)


def test_the_web_and_the_cli_stay_in_the_shell():
    below = [path for package in sorted(PACKAGES - {"hma"}) for path in _sources(package)]
    wrong = [str(path.relative_to(ROOT)) for path in below if _imports(path) & SHELL_LIBRARIES]
    assert not wrong


def test_hashers_and_matchers_touch_no_storage():
    for package in ("hashers", "matchers"):
        for path in _sources(package):
            assert not _imports(path) & STORAGE_LIBRARIES, path.relative_to(ROOT)


def test_every_error_the_project_defines_has_one_root():
    defined = []
    for package in sorted(PACKAGES):
        for module in pkgutil.walk_packages([str(ROOT / package)], f"{package}."):
            if ".migrations" in module.name:
                continue
            loaded = importlib.import_module(module.name)
            defined += [
                cls
                for _, cls in inspect.getmembers(loaded, inspect.isclass)
                if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__
            ]
    assert len(defined) > 40
    assert [cls for cls in defined if not issubclass(cls, ProjectError)] == []


#: The one web module that reads a table itself: the HMA API's own key-value state.
QUERYING_WEB_MODULES = {"hma/web/hma_api/state.py"}


def test_views_build_no_queries():
    """Every front door (our API, HMA's, the consoles) calls the layers' functions."""
    querying = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "hma" / "web").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module == "sqlalchemy"
        and {alias.name for alias in node.names} & {"select", "func", "update", "delete", "insert"}
    }
    assert querying == QUERYING_WEB_MODULES
