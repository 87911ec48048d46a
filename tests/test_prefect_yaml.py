"""prefect.yaml stays in step with config/sources.toml and the flows it names."""

from __future__ import annotations

from pathlib import Path

import yaml

from etl.sources.config import load_sources

REPO = Path(__file__).resolve().parents[1]


def test_one_scheduled_ingest_per_source_with_a_cron_and_the_same_schedule() -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in spec["deployments"]}
    sources = load_sources(REPO / "config" / "sources.toml")
    scheduled = {f"ingest-{name}": src for name, src in sources.items() if src.cron}
    assert scheduled, "the shipped config should schedule at least the sample source"
    for name, src in scheduled.items():
        d = deployments[name]
        assert d["entrypoint"] == "flows/ingest.py:ingest"
        assert d["parameters"]["source"] == src.name
        assert d["schedules"] == [{"cron": src.cron, "timezone": src.timezone}]
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert deployments["backfill"]["entrypoint"] == "flows/backfill.py:backfill"
    assert deployments["backfill"].get("schedules") in (None, [])
    assert deployments["backfill"]["parameters"]["via_deployment"] == "ingest/ingest-manual"
    assert "ingest-manual" in deployments


def test_the_committed_file_is_what_newsetl_prefect_yaml_writes() -> None:
    from importlib.metadata import version

    from flows.prefect_yaml import render, same_spec

    committed = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    assert same_spec(committed, render(load_sources(REPO / "config" / "sources.toml"), version("prefect")))


def test_every_scheduled_source_gets_a_deployment(tmp_path: Path) -> None:
    from flows.prefect_yaml import render

    config = tmp_path / "sources.toml"
    config.write_text(
        """
[sources.wire]
kind = "http"
url = "https://example.org/{date:%Y-%m-%d}.jsonl"
cron = "30 5 * * 1-5"
timezone = "Europe/Moscow"

[sources.inbox]
kind = "folder"
path = "/srv/landing"

[sources.alpha]
kind = "folder"
path = "/srv/alpha"
cron = "0 * * * *"
""",
        encoding="utf-8",
    )
    spec = yaml.safe_load(render(load_sources(config), "3.9.1"))
    names = [d["name"] for d in spec["deployments"]]
    assert names == ["ingest-alpha", "ingest-wire", "ingest-manual", "backfill"]
    wire = spec["deployments"][1]
    assert wire["schedules"] == [{"cron": "30 5 * * 1-5", "timezone": "Europe/Moscow"}]
    assert wire["parameters"] == {"source": "wire"}
    assert wire["work_pool"]["name"] == "newsetl"
    assert not any("db_url" in (d.get("parameters") or {}) for d in spec["deployments"])
