"""Settings: defaults, then TOML, then HMA_* variables, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hma.settings import SettingsError, load_settings


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
        ({"HMA_RETENTION_CASE_DAYS": "-1"}, "retention_case_days: days cannot be negative"),
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
