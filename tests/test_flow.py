"""The Prefect flow under a test harness: steps and batches as tasks, the summary artifact published."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import news_record, story, write_jsonl


def test_ingest_flow_runs_batches_as_tasks_and_publishes_a_summary(
    prefect_harness, pg_url: str, tmp_path: Path, monkeypatch
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.ingest import ingest

    config = tmp_path / "newsetl.toml"
    config.write_text("[ingest]\nbatch_size = 4\n", encoding="utf-8")
    monkeypatch.setenv("NEWSETL_REPORT", str(tmp_path / "report.html"))
    base = story(31)
    dump = write_jsonl(
        tmp_path / "wire.jsonl",
        [news_record(f"S{i}", story(300 + i)) for i in range(9)]
        + [news_record("dup", base), news_record("orig", base)],
    )

    summary = ingest(locations=[str(dump)], db_url=pg_url, config_path=str(config))

    assert (summary.totals.records, summary.totals.articles, summary.totals.exact_duplicates) == (
        11,
        10,
        1,
    )

    async def task_runs_and_artifact():
        async with get_client() as client:
            flow_runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[summary.run_id]))
            )
            task_runs = await client.read_task_runs()
            artifacts = await client.read_artifacts()
        mine = [t for t in task_runs if str(t.flow_run_id) == summary.run_id]
        arts = [a for a in artifacts if str(a.flow_run_id) == summary.run_id]
        return flow_runs, mine, arts

    flow_runs, task_runs, artifacts = run_coro_as_sync(task_runs_and_artifact())
    assert flow_runs[0].state.is_completed()
    # named for what they handle: the dump and its batch, not "prepare-batch-780"
    assert flow_runs[0].name == "ingest wire.jsonl"
    assert sorted(t.name for t in task_runs) == sorted(
        ["plan wire.jsonl", "claim wire.jsonl", "finish wire.jsonl"]
        + [f"{kind} wire.jsonl {n}" for kind in ("load-batch", "prepare-batch") for n in (1, 2, 3)]
    )
    by_key = {a.key: a for a in artifacts}
    assert "records read | 11" in by_key["ingest-summary"].data
    table = by_key["ingest-dumps"].data
    assert "wire.jsonl" in str(table) and '"kept": 10' in str(table).replace("'", '"')
    assert f"newsetl explain dump:{summary.dumps[0].dump_id}" in str(table)  # its duplicate, listed
    assert "| **all sources** | 11 | 10 | 1 | 0 | 0 |" in by_key["warehouse-report"].data
    assert (tmp_path / "report.html").as_uri() in by_key["warehouse-report-html"].data
    assert "Largest clusters" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_each_step_of_a_source_day_is_a_task_named_for_its_dump(
    prefect_harness, sqlite_url: str, tmp_path: Path
) -> None:
    import datetime

    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from etl.warehouse import partitions
    from etl.warehouse.db import make_engine
    from flows.ingest import ingest

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "crawl.jsonl", [news_record(f"C{i}", story(400 + i)) for i in range(5)])
    config = tmp_path / "newsetl.toml"
    config.write_text(
        f'[ingest]\nbatch_size = 3\n[sources.inbox]\nkind = "folder"\npath = "{inbox}"\n'
        'pattern = "*.jsonl"\nstable_seconds = 0\n',
        encoding="utf-8",
    )

    summary = ingest(
        locations=[], source="inbox", db_url=sqlite_url, config_path=str(config), date="2024-03-04"
    )

    assert (summary.totals.records, summary.totals.articles) == (5, 5)

    async def task_runs():
        async with get_client() as client:
            return await client.read_task_runs()

    mine = [t for t in run_coro_as_sync(task_runs()) if str(t.flow_run_id) == summary.run_id]
    assert sorted(t.name for t in mine) == sorted(
        [
            "plan inbox 2024-03-04",
            "claim crawl.jsonl",
            "prepare-batch crawl.jsonl 1",
            "prepare-batch crawl.jsonl 2",
            "load-batch crawl.jsonl 1",
            "load-batch crawl.jsonl 2",
            "finish crawl.jsonl",
            "settle crawl.jsonl",
            "record-partition inbox 2024-03-04",
        ]
    )
    assert all(t.state.is_completed() for t in mine)
    assert (inbox / "processed" / "crawl.jsonl").exists()  # what the settle task did
    engine = make_engine(sqlite_url)
    march_4 = datetime.date(2024, 3, 4)
    day = partitions.states(engine, "inbox", march_4, march_4)[march_4]
    engine.dispose()
    assert (day["status"], day["records"], day["run_id"]) == ("done", 5, summary.run_id)


def test_flow_fetches_a_gzipped_dump_with_a_prefect_secret(
    prefect_harness, http_server, sqlite_url: str, tmp_path: Path
) -> None:
    import gzip
    import json

    from prefect.blocks.system import Secret

    from flows.ingest import ingest

    Secret(value="Bearer from-a-block").save("newsetl-test-token", overwrite=True)
    body = gzip.compress(
        "".join(json.dumps(news_record(f"G{i}", story(800 + i))) + "\n" for i in range(4)).encode()
    )
    from tests.httpserver import Reply

    http_server.route("/dumps/wire-2024-05-01.jsonl.gz", Reply(body=body, etag='"g1"'))
    config = tmp_path / "newsetl.toml"
    config.write_text(
        f"""
[sources.wire]
kind = "http"
url = "{http_server.base}/dumps/wire-{{date:%Y-%m-%d}}.jsonl.gz"
auth_secret_block = "newsetl-test-token"
download_dir = "{tmp_path / "downloads"}"
""",
        encoding="utf-8",
    )

    summary = ingest(
        locations=[], source="wire", db_url=sqlite_url, config_path=str(config), date="2024-05-01"
    )

    assert summary.totals.articles == 4
    assert http_server.hits("/dumps/wire-2024-05-01.jsonl.gz")[0].headers["Authorization"] == (
        "Bearer from-a-block"
    )
    assert "from-a-block" not in summary.markdown()


def test_scheduled_run_ingests_the_day_it_was_scheduled_for(tmp_path: Path, monkeypatch) -> None:
    import datetime

    from flows.ingest import logical_day

    config = tmp_path / "sources.toml"
    config.write_text(
        '[sources.moscow]\nkind = "http"\nurl = "https://x/{date:%Y-%m-%d}"\ntimezone = "Europe/Moscow"\n',
        encoding="utf-8",
    )
    # scheduled for 22:30 UTC on March 4 = 01:30 on March 5 in Moscow, started late on March 6
    from prefect.runtime import flow_run

    scheduled = datetime.datetime(2024, 3, 4, 22, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(flow_run, "get_scheduled_start_time", lambda: scheduled)
    assert logical_day("moscow", str(config), None) == datetime.date(2024, 3, 5)
    assert logical_day("moscow", str(config), "2024-01-02") == datetime.date(2024, 1, 2)


def test_ingest_runs_are_named_for_their_dumps_or_their_day(tmp_path: Path, monkeypatch) -> None:
    import datetime

    from prefect.runtime import flow_run

    from flows.ingest import ingest_run_name

    def named(**parameters) -> str:
        monkeypatch.setattr(flow_run, "parameters", parameters, raising=False)
        return ingest_run_name()

    assert named(locations=["inbox/crawl.jsonl"]) == "ingest crawl.jsonl"
    assert (
        named(locations=["https://h/d/crawl.jsonl?day=3", "a.txt", "inbox/"]) == "ingest crawl.jsonl +2 more"
    )
    config = tmp_path / "sources.toml"
    config.write_text(
        '[sources.tass_daily]\nkind = "http"\nurl = "https://x/{date:%Y-%m-%d}"\n'
        'timezone = "Europe/Moscow"\n',
        encoding="utf-8",
    )
    assert (
        named(source="tass_daily", date="2024-03-04", config_path=str(config))
        == "ingest tass_daily 2024-03-04"
    )
    # a scheduled run without a date is named after the day it ingests (in the source's zone)
    scheduled = datetime.datetime(2024, 3, 4, 22, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(flow_run, "get_scheduled_start_time", lambda: scheduled)
    assert named(source="tass_daily", config_path=str(config)) == "ingest tass_daily 2024-03-05"
