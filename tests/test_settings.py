"""Settings: defaults, then TOML, then HMA_* variables, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from banks.exchanges.lists import ListConfig
from banks.exchanges.threatexchange import ThreatExchangeConfig
from core.errors import InvalidInput, SettingsError
from hma.reference import DOCS, expected_documents
from hma.settings import Settings, load_settings


def test_defaults():
    settings = load_settings(environ={})
    assert settings.data_dir == Path("hma-data")
    assert settings.max_upload_bytes == 50 * 1024 * 1024
    assert settings.pdq_quality_min == 50
    assert settings.pdq_match_threshold == 31
    assert settings.resolved_database_url.endswith("/hma-data/hma.db")
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_toml_then_environment_then_overrides(tmp_path):
    config = tmp_path / "hma.toml"
    config.write_text('pdq_match_threshold = 20\nunletterbox = true\nlog_level = "DEBUG"\n')
    env = {"HMA_CONFIG": str(config), "HMA_PDQ_MATCH_THRESHOLD": "25", "HMA_DATA_DIR": "/srv/hma"}
    settings = load_settings(environ=env)
    assert settings.pdq_match_threshold == 25
    assert settings.unletterbox is True
    assert settings.log_level == "DEBUG"
    assert settings.data_dir == Path("/srv/hma")
    assert load_settings(environ=env, pdq_match_threshold=10).pdq_match_threshold == 10
    assert settings.hashing.limits.max_bytes == settings.max_upload_bytes


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HMA_MAX_UPLOAD_BYTES": "lots"}, "max_upload_bytes"),
        ({"HMA_UNLETTERBOX": "maybe"}, "unletterbox"),
        ({"HMA_EGRESS_ALLOW": "10.0.0.0/8, intranet"}, "egress_allow: 'intranet'"),
        ({"HMA_EGRESS_ALLOW": "127.0.0.1:99999"}, "egress_allow"),
        ({"HMA_RETENTION_CASE_DAYS": "-1"}, "retention_case_days: .* greater than or equal to 0"),
        ({"HMA_UNDO_SECONDS": "-5"}, "undo_seconds: .* greater than or equal to 0"),
        ({"HMA_PDQ_QUALITY_MIN": "101"}, "pdq_quality_min: .* less than or equal to 100"),
        ({"HMA_SERVE_THREADS": "0"}, "serve_threads"),
        ({"HMA_LOG_LEVEL": "chatty"}, "log_level"),
        ({"HMA_WEBHOOK_URL": "https://platform.example/hook"}, "webhook_secret is required"),
        (
            {
                "HMA_WEBHOOK_URL": "https://evil.example\\@platform.example/",
                "HMA_WEBHOOK_SECRET": "s",
            },
            "webhook_url: .*backslash",
        ),
        ({"HMA_CONFIG": "/nonexistent/hma.toml"}, "cannot read"),
    ],
)
def test_bad_values(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=env)


def test_bad_toml(tmp_path):
    config = tmp_path / "hma.toml"
    config.write_text("pdq_quality_min = true\n")
    with pytest.raises(SettingsError, match="pdq_quality_min"):
        load_settings(environ={"HMA_CONFIG": str(config)})
    config.write_text("not = [valid toml\n")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(environ={"HMA_CONFIG": str(config)})


def test_the_shipped_example_config_loads():
    example = Path(__file__).resolve().parents[1] / "config" / "hma.example.toml"
    settings = load_settings(environ={"HMA_CONFIG": str(example)})
    assert settings.data_dir == Path("/var/lib/hma")
    assert settings.pdq_match_threshold == 31


@pytest.mark.parametrize("source", ["toml", "environment", "option"])
def test_every_source_is_parsed_alike(tmp_path, source):
    def load(value):
        if source == "toml":
            config = tmp_path / "hma.toml"
            config.write_text(
                f"unletterbox = {value!r}\nundo_seconds = {value!r}\n".replace("'", '"')
            )
            return load_settings(environ={"HMA_CONFIG": str(config)})
        if source == "environment":
            return load_settings(environ={"HMA_UNLETTERBOX": value, "HMA_UNDO_SECONDS": value})
        return load_settings(environ={}, unletterbox=value, undo_seconds=value)

    with pytest.raises(SettingsError, match=r"setting unletterbox: .*boolean") as failed:
        load("maybe")
    assert "setting undo_seconds" in str(failed.value)  # every problem, each named
    with pytest.raises(SettingsError, match=r"setting undo_seconds: .*greater than or equal to 0"):
        load("-1")
    assert load("1").unletterbox is True and load("1").undo_seconds == 1.0


def test_replace_checks_like_loading():
    with pytest.raises(SettingsError, match="review_exposure_limit"):
        load_settings(environ={}).replace(review_exposure_limit=0)


def test_adapter_settings_are_parsed_like_the_deployments():
    with pytest.raises(InvalidInput, match=r"setting batch_size: .*greater than or equal to 1"):
        ListConfig.parse({"batch_size": "0"})
    with pytest.raises(InvalidInput, match=r"unknown setting 'bach_size'.*takes format"):
        ListConfig.parse({"bach_size": "10"})
    with pytest.raises(InvalidInput, match="setting privacy_group is required"):
        ThreatExchangeConfig.parse({})
    with pytest.raises(InvalidInput, match="setting format: Input should be 'auto'"):
        ListConfig.parse({"format": "xml"})
    assert ListConfig.parse({"batch_size": "500"}).batch_size == 500


def test_the_reference_documents_are_made_from_the_code():
    """docs/cli.md and the settings table in docs/operations.md are generated:
    `python -m hma.reference` rewrites them after a command or setting changes."""
    for path, text in expected_documents().items():
        assert path.read_text() == text, f"{path.name} is out of date: run python -m hma.reference"
    operations = (DOCS / "operations.md").read_text()
    for name in Settings.model_fields:
        assert f"| `{name}` |" in operations, f"setting {name} is missing from docs/operations.md"
