"""Backfills under a Prefect test server: one flow run per day, resumable, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from etl.warehouse.db import make_engine
from etl.warehouse.models import ArticleRow, Duplicate, Partition
from tests.conftest import edit_words, news_record, story
from tests.httpserver import Reply

DAYS = ["2024-06-01", "2024-06-02", "2024-06-03"]


def daily_dump(day_index: int) -> bytes:
    records = [news_record(f"D{day_index}-{i}", story(1000 + day_index * 10 + i)) for i in range(3)]
    if day_index == 2:  # day 3 re-issues a story of day 1
        records.append(news_record("Re-issue", edit_words(story(1000), 3), day=3))
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def serve_wire(http_server, tmp_path: Path, extra: str = "", name: str = "wire") -> Path:
    """Serve the three daily dumps and write a config declaring them as source ``name``."""
    for i, day in enumerate(DAYS):
        http_server.route(f"/wire/{day}.jsonl", Reply(body=daily_dump(i)))
    config = tmp_path / "newsetl.toml"
    config.write_text(
        f"""
[sources.{name}]
kind = "http"
url = "{http_server.base}/wire/{{date:%Y-%m-%d}}.jsonl"
download_dir = "{tmp_path / "downloads"}"
{extra}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def wire(http_server, tmp_path: Path) -> Path:
    return serve_wire(http_server, tmp_path, "backoff_seconds = 0.01\nretries = 1")


def partition_states(url: str) -> dict[str, tuple[str, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Partition.day, Partition.status, Partition.records)).all()
    engine.dispose()
    return {d.isoformat(): (s, n) for d, s, n in rows}


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = tuple(
            conn.execute(select(func.count()).select_from(m)).scalar_one() for m in (ArticleRow, Duplicate)
        )
    engine.dispose()
    return out


def test_backfill_three_days_then_rerun_changes_nothing(prefect_harness, wire: Path, pg_url: str) -> None:
    from flows.backfill import backfill

    rows = backfill(source="wire", start=DAYS[0], end=DAYS[-1], db_url=pg_url, config_path=str(wire))

    assert [r["status"] for r in rows] == ["done", "done", "done"]
    assert partition_states(pg_url) == {DAYS[0]: ("done", 3), DAYS[1]: ("done", 3), DAYS[2]: ("done", 4)}
    assert counts(pg_url) == (9, 1)  # the day-3 re-issue is a duplicate of day 1

    again = backfill(source="wire", start=DAYS[0], end=DAYS[-1], db_url=pg_url, config_path=str(wire))
    assert [r["status"] for r in again] == ["skipped", "skipped", "skipped"]
    assert counts(pg_url) == (9, 1)

    # fetched again (forced) with the same bodies: the days stay done with the counts of
    # the run that loaded them, not "empty" with zeros
    forced = backfill(
        source="wire", start=DAYS[0], end=DAYS[-1], force=True, db_url=pg_url, config_path=str(wire)
    )
    assert [r["status"] for r in forced] == ["done", "done", "done"]
    assert partition_states(pg_url) == {DAYS[0]: ("done", 3), DAYS[1]: ("done", 3), DAYS[2]: ("done", 4)}
    assert counts(pg_url) == (9, 1)


def test_interrupted_backfill_resumes_and_old_days_dedup_against_newer(
    prefect_harness, http_server, wire: Path, sqlite_url: str
) -> None:
    from flows.backfill import backfill

    http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(status=503))  # day 2 is down for now
    state = backfill(
        source="wire", start=DAYS[1], end=DAYS[2], db_url=sqlite_url, config_path=str(wire), return_state=True
    )
    # a backfill with a failed day ends Failed (what the UI and alerts see), naming the day
    assert state.is_failed()
    assert DAYS[1] in state.message and DAYS[2] not in state.message
    first = state.result(raise_on_failure=False)
    assert {r["day"]: r["status"] for r in first} == {DAYS[1]: "failed", DAYS[2]: "done"}
    failed_row = next(r for r in first if r["day"] == DAYS[1])
    assert "503" in failed_row["reason"] and failed_row["flow_run"]
    assert partition_states(sqlite_url)[DAYS[1]][0] == "failed"

    http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(body=daily_dump(1)))
    dry = backfill(
        source="wire", start=DAYS[0], end=DAYS[2], dry_run=True, db_url=sqlite_url, config_path=str(wire)
    )
    assert [(r["day"], r["action"]) for r in dry] == [(DAYS[0], "run"), (DAYS[1], "run"), (DAYS[2], "skip")]

    resumed = backfill(source="wire", start=DAYS[0], end=DAYS[2], db_url=sqlite_url, config_path=str(wire))
    assert {r["day"]: r["status"] for r in resumed} == {DAYS[0]: "done", DAYS[1]: "done", DAYS[2]: "skipped"}
    # day 1, loaded after day 3, holds the original of day 3's re-issue: still one copy
    assert counts(sqlite_url) == (9, 1)


def test_a_day_without_a_dump_is_empty_not_failed(prefect_harness, wire: Path, sqlite_url: str) -> None:
    from flows.backfill import backfill

    rows = backfill(
        source="wire", start="2024-06-04", end="2024-06-04", db_url=sqlite_url, config_path=str(wire)
    )
    assert rows[0]["status"] == "empty"
    assert partition_states(sqlite_url)["2024-06-04"][0] == "empty"


def flow_and_task_runs() -> tuple[list, list]:
    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def read():
        async with get_client() as client:
            return await client.read_flow_runs(), await client.read_task_runs()

    return run_coro_as_sync(read())


def test_backfill_and_its_days_are_named_for_what_they_handle(
    prefect_harness, wire: Path, sqlite_url: str
) -> None:
    from flows.backfill import backfill

    state = backfill(
        source="wire", start=DAYS[0], end=DAYS[1], db_url=sqlite_url, config_path=str(wire), return_state=True
    )

    flow_runs, task_runs = flow_and_task_runs()
    parent = next(r for r in flow_runs if r.id == state.state_details.flow_run_id)
    assert parent.name == f"backfill wire {DAYS[0]}..{DAYS[1]}"
    # a subflow run hangs off a task run of its parent's flow run
    in_parent = {t.id for t in task_runs if t.flow_run_id == parent.id}
    days = {r.id: r.name for r in flow_runs if r.parent_task_run_id in in_parent}
    assert sorted(days.values()) == [f"ingest wire {DAYS[0]}", f"ingest wire {DAYS[1]}"]
    steps = sorted(t.name for t in task_runs if t.flow_run_id in days)
    assert steps == sorted(
        [f"{kind} {day}.jsonl 1" for kind in ("load-batch", "prepare-batch") for day in DAYS[:2]]
        + [f"{kind} {day}.jsonl" for kind in ("claim", "finish") for day in DAYS[:2]]
        + [f"{kind} wire {day}" for kind in ("plan", "record-partition") for day in DAYS[:2]]
    )


def test_a_backfill_is_listed_by_newsetl_runs(prefect_harness, wire: Path, sqlite_url: str) -> None:
    from etl.warehouse import ledger
    from flows.backfill import backfill

    backfill(source="wire", start=DAYS[0], end=DAYS[-1], db_url=sqlite_url, config_path=str(wire))

    engine = make_engine(sqlite_url)
    runs = ledger.recent_runs(engine)
    engine.dispose()
    backfills = [r for r in runs if r["kind"] == "backfill"]
    assert len(backfills) == 1
    row = backfills[0]
    assert row["status"] == "completed"
    assert row["parameters"] == {"source": "wire", "start": DAYS[0], "end": DAYS[-1]}
    # the sums of its three day runs: 3 + 3 + 4 records, the day-3 re-issue a near duplicate
    days = [r for r in runs if r["kind"] == "ingest"]
    assert len(days) == 3
    assert (row["records"], row["articles"], row["dumps_read"]) == (10, 9, 3)
    assert row["exact_duplicates"] + row["near_duplicates"] == 1
    assert row["finished_at"] is not None


def latest_partitions_table(source: str) -> list[dict]:
    """The rows of the newest table artifact under the source's partitions key."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from etl.partition_table import artifact_key

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(source)])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert found, f"no artifact under {artifact_key(source)}"
    data = found[0].data
    return json.loads(data) if isinstance(data, str) else data


def test_partitions_artifact_follows_the_ledger_after_a_day_is_retried_alone(
    prefect_harness, http_server, wire: Path, sqlite_url: str
) -> None:
    """Before, the table showed one backfill's results and stayed stale after a retry."""
    from flows.backfill import backfill
    from flows.ingest import ingest

    http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(status=500))
    state = backfill(
        source="wire", start=DAYS[0], end=DAYS[2], db_url=sqlite_url, config_path=str(wire), return_state=True
    )
    assert state.is_failed()
    table = {r["day"]: r for r in latest_partitions_table("wire")}
    assert {d: r["status"] for d, r in table.items()} == {DAYS[0]: "done", DAYS[1]: "failed", DAYS[2]: "done"}
    assert "500" in table[DAYS[1]]["reason"]
    failed_run = table[DAYS[1]]["flow_run"]
    assert failed_run and failed_run != table[DAYS[0]]["flow_run"]

    # the operator's retry of that day alone: an ingest run of the source for the day
    http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(body=daily_dump(1)))
    summary = ingest(source="wire", date=DAYS[1], db_url=sqlite_url, config_path=str(wire))
    assert summary.ok

    table = {r["day"]: r for r in latest_partitions_table("wire")}
    assert {d: (r["status"], r["read"], r["reason"]) for d, r in table.items()} == {
        DAYS[0]: ("done", 3, ""),
        DAYS[1]: ("done", 3, ""),
        DAYS[2]: ("done", 4, ""),
    }
    # the link now leads to the retry, not to the failed attempt
    assert table[DAYS[1]]["flow_run"].endswith(f"/runs/flow-run/{summary.run_id}")
    assert table[DAYS[1]]["flow_run"] != failed_run
    assert table[DAYS[1]]["attempts"] == 2
