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
