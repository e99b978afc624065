"""Plugins: installed packages add signal types (with their own index), hashers and
exchange adapters; `hma plugins` lists everything with its origin; a plugin that
fails to load is reported and left out, never fatal."""

from __future__ import annotations

import json
import textwrap

import pytest

from banks import exchanges
from hashers import default_registry
from matchers import index_for

PLUGINS = {
    "goodplug.py": """
        from hashers import HexSignalType

        class Rot13Index:
            def __init__(self):
                self.values = {}

        class Rot13(HexSignalType):
            index_class = Rot13Index

        def register(registry):
            registry.add_signal_type(Rot13("rot13", 8))
    """,
    "brokenimport.py": "raise ImportError('a dependency is missing')\n",
    "halfway.py": """
        from hashers import HexSignalType

        def register(registry):
            registry.add_signal_type(HexSignalType("halfway", 8))
            raise RuntimeError("gave up half-way")
    """,
    "badexchange.py": "ADAPTER = 42\n",
}
ENTRY_POINTS = """
[hma.plugins]
good = goodplug:register
brokenimport = brokenimport:register
halfway = halfway:register

[hma.exchanges]
bad = badexchange:ADAPTER
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The plugins above, installed as a distribution on sys.path."""
    for name, code in PLUGINS.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    info = tmp_path / "hma_test_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hma-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    exchanges._load.cache_clear()
    yield tmp_path
    exchanges._load.cache_clear()


def test_a_failing_plugin_is_left_out_and_the_rest_load(installed):
    registry = default_registry()
    assert "rot13" in registry.signal_types
    origin = registry.origins["signal type", "rot13"]
    assert origin == "plugin good from hma-test-plugins 1.0 (goodplug:register)"
    # What the half-way plugin added before failing was taken back.
    assert "halfway" not in registry.signal_types
    assert ("signal type", "halfway") not in registry.origins
    failed = {f.name: f.error for f in registry.failures}
    assert set(failed) == {"brokenimport", "halfway"}
    assert "a dependency is missing" in failed["brokenimport"]
    assert "gave up half-way" in failed["halfway"]
    # Built-in types are untouched.
    assert registry.origins["signal type", "pdq"] == "built in"


def test_a_signal_type_brings_its_own_index(installed):
    rot13 = default_registry().signal_type("rot13")
    assert type(index_for(rot13)).__name__ == "Rot13Index"
    assert type(index_for(default_registry().signal_type("md5"))).__name__ == "ExactIndex"


def test_a_failing_exchange_plugin_leaves_the_others(installed):
    assert set(exchanges.adapter_types()) == {
        "list",
        "hma",
        "threatexchange",
        "ncmec",
        "stopncii",
        "sample",
    }
    [failure] = exchanges.adapter_failures()
    assert failure.group == "hma.exchanges" and failure.name == "bad"
    assert "not an ExchangeAdapter subclass" in failure.error


def test_hma_plugins_lists_origins_and_failures(installed, hma):
    result = hma("plugins", "--json")
    assert result.exit_code == 1  # something failed to load
    report = json.loads(result.stdout)
    listed = {(p["kind"], p["name"]): p["origin"] for p in report["plugins"]}
    assert listed["signal type", "rot13"].startswith("plugin good from hma-test-plugins")
    assert listed["hasher", "PDQHasher (pdq)"] == "built in"
    assert listed["exchange", "threatexchange"] == "built in"
    assert {(f["group"], f["name"]) for f in report["failed"]} == {
        ("hma.plugins", "brokenimport"),
        ("hma.plugins", "halfway"),
        ("hma.exchanges", "bad"),
    }


def test_hma_plugins_without_plugins_succeeds(hma):
    exchanges._load.cache_clear()
    result = hma("plugins")
    assert result.exit_code == 0
    assert "pdq" in result.stdout and "built in" in result.stdout


def test_the_declared_extension_points_are_the_ones_read_and_documented():
    """One list (hma.extension_points): every entry-point group the code reads (itself,
    or through a `core.plugins.Catalog`) is on it, and docs/plugins.md has a section for
    each and no other."""
    import ast
    import importlib
    import re
    from pathlib import Path

    from hma.extension_points import EXTENSION_POINTS

    root = Path(__file__).resolve().parent.parent
    declared = {point.group for point in EXTENSION_POINTS}
    read = set()
    for package in ("core", "hashers", "matchers", "banks", "actioners", "accounts", "hma"):
        for path in (root / package).rglob("*.py"):
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                called = getattr(node.func, "id", "")
                if called == "entry_points":
                    group = next(k.value for k in node.keywords if k.arg == "group")
                elif called == "Catalog":
                    group = node.args[0]
                else:
                    continue
                if isinstance(group, ast.Constant):
                    read.add(group.value)
                elif isinstance(group, ast.Name):  # a module constant, as its module defines it
                    read.add(getattr(importlib.import_module(module), group.id))
    assert read == declared
    page = (root / "docs" / "plugins.md").read_text()
    assert set(re.findall(r"^## `([a-z.]+)`$", page, re.M)) == declared
    for point in EXTENSION_POINTS:
        assert f"| `{point.group}` |" in page, point.group
