"""Settings: defaults, validation that names the bad key, and where the warehouse URL comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import DEFAULT_DATABASE_URL, DedupConfig, load_settings, resolve_database_url
from etl.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsetl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_equals_the_defaults() -> None:
    settings = load_settings(REPO / "config" / "newsetl.toml")
    assert settings.dedup == DedupConfig()
    assert settings.ingest.batch_size == 2000
    assert settings.warehouse.url is None


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key dedup\.treshold \(did you mean threshold\?\); known"):
        load_settings(write(tmp_path, "[dedup]\ntreshold = 0.7\n"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[ingest]\nbatch_size = "big"', "ingest.batch_size must be int, got str"),
        ("[ingest]\nbatch_size = true", "ingest.batch_size must be int, got bool"),
        ("[dedup]\nfigures_must_agree = 1", "dedup.figures_must_agree must be bool, got int"),
        ("[warehouse]\nurl = 5", "warehouse.url must be str, got int"),  # a key whose default is None
        ("dedup = 3", "[dedup] must be a table"),
    ],
)
def test_wrong_type_is_named(tmp_path: Path, table: str, message: str) -> None:
    config = write(tmp_path, table + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(err.value) == f"{config}: {message}"


def test_an_integer_is_a_fine_float(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[dedup]\nthreshold = 1\n[warehouse]\nretry_seconds = 0\n"))
    assert settings.dedup.threshold == 1.0 and isinstance(settings.dedup.threshold, float)
    assert settings.warehouse.retry_seconds == 0.0


def test_impossible_banding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bands x dedup.rows"):
        load_settings(write(tmp_path, "[dedup]\nbands = 40\nrows = 4\n"))


def test_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section \[warehose\] \(did you mean warehouse\?\)"):
        load_settings(write(tmp_path, '[warehose]\nurl = "sqlite://"\n'))


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_database_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSETL_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSETL_CONFIG", raising=False)
    assert resolve_database_url(None, load_settings()) == DEFAULT_DATABASE_URL

    settings = load_settings(write(tmp_path, '[warehouse]\nurl = "sqlite:///from-config.db"\n'))
    assert resolve_database_url(None, settings) == "sqlite:///from-config.db"
    monkeypatch.setenv("NEWSETL_DATABASE_URL", "sqlite:///from-env.db")
    assert resolve_database_url(None, settings) == "sqlite:///from-env.db"
    assert resolve_database_url("sqlite:///from-flag.db", settings) == "sqlite:///from-flag.db"


def test_default_banding_finds_pairs_at_the_threshold() -> None:
    cfg = DedupConfig()
    assert cfg.candidate_probability(0.8) > 0.999
    assert cfg.candidate_probability(0.6) > 0.98
    assert cfg.candidate_probability(0.1) < 0.01
