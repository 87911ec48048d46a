"""End to end against a real `prefect server start`: serve the deployments, trigger backfills.

Starts a Prefect server on a free loopback port (tests/conftest.py, one per
module), runs `newsetl serve` against it, and triggers the `backfill` deployment
through the Prefect CLI for three days served by a local HTTP server: checks the
warehouse and the partition ledger, then triggers it again and checks that
nothing changed. Another test fails one day, then retries it alone, as an
operator would. About a minute each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from etl.partition_table import artifact_key
from etl.warehouse import ledger
from etl.warehouse.db import make_engine
from etl.warehouse.models import Partition
from tests.conftest import PREFECT, stop, wait_for
from tests.httpserver import Reply
from tests.test_backfill import DAYS, counts, daily_dump, partition_states, serve_wire


def client_env(prefect_server: dict[str, str], config: Path, pg_url: str) -> dict[str, str]:
    """The environment of `newsetl serve` and of the Prefect CLI: this server, this warehouse."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        **prefect_server,
        "NEWSETL_CONFIG": str(config),
        "NEWSETL_DATABASE_URL": with_password(pg_url),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def serving(env: dict[str, str], cwd: Path, source: str) -> Iterator[None]:
    """`newsetl serve`, once it serves (the server may list deployments an earlier test served)."""
    log_path = cwd / "serve.log"
    serve_log = log_path.open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve"],
        cwd=cwd,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
    )

    def listed() -> bool:
        ls = [PREFECT, "deployment", "ls"]
        return (
            f"ingest-{source}"
            in subprocess.run(ls, env=env, capture_output=True, text=True, timeout=60).stdout
        )

    try:
        wait_for(listed, 90, "the served deployments")
        wait_for(lambda: "being served" in log_path.read_text(), 60, "`newsetl serve` to poll")
        yield
    finally:
        stop(serve)
        serve_log.close()


def trigger_backfill(
    env: dict[str, str], cwd: Path, source: str, start: str, end: str
) -> subprocess.CompletedProcess:
    """What an operator types: `prefect deployment run backfill/backfill -p ... --watch`."""
    return subprocess.run(
        [
            PREFECT,
            "deployment",
            "run",
            "backfill/backfill",
            "--param",
            f"source={source}",
            "--param",
            f"start={start}",
            "--param",
            f"end={end}",
            "--watch",
            "--watch-timeout",
            "150",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )


def test_served_backfill_deployment_end_to_end(
    prefect_server, http_server, pg_url: str, tmp_path: Path
) -> None:
    config = serve_wire(http_server, tmp_path, 'cron = "0 6 * * *"\ntimezone = "UTC"')
    env = client_env(prefect_server, config, pg_url)
    with serving(env, tmp_path, "wire"):
        first = trigger_backfill(env, tmp_path, "wire", DAYS[0], DAYS[-1])
        assert first.returncode == 0, first.stdout + first.stderr
        assert partition_states(pg_url) == {DAYS[0]: ("done", 3), DAYS[1]: ("done", 3), DAYS[2]: ("done", 4)}
        assert counts(pg_url) == (9, 1)
        # the backfill has its own runs row, with the counts of the day runs of the workers
        engine = make_engine(pg_url)
        backfills = [r for r in ledger.recent_runs(engine) if r["kind"] == "backfill"]
        engine.dispose()
        assert [(r["status"], r["records"], r["dumps_read"]) for r in backfills] == [("completed", 10, 3)]

        second = trigger_backfill(env, tmp_path, "wire", DAYS[0], DAYS[-1])
        assert second.returncode == 0, second.stdout + second.stderr
        assert counts(pg_url) == (9, 1)
        assert {s for s, _ in partition_states(pg_url).values()} == {"done"}

        # Neither a deployment nor any flow run (backfill, or the per-day ingest runs it
        # started) shows the password: the URL travels in the environment only.
        api = prefect_server["PREFECT_API_URL"]
        for what in ("deployments", "flow_runs"):
            listed = requests.post(f"{api}/{what}/filter", json={"limit": 200}, timeout=30)
            assert listed.ok and listed.json(), what
            assert SECRET not in listed.text, what


@pytest.mark.slow
def test_a_failed_day_fails_the_backfill_and_its_retry_shows_done(
    prefect_server, http_server, pg_url: str, tmp_path: Path
) -> None:
    # Its own source name: day runs have idempotency keys `source:day:attempt`, and this
    # server keeps the runs of the test above (on another warehouse).
    source = "flaky"
    config = serve_wire(
        http_server,
        tmp_path,
        'cron = "0 6 * * *"\ntimezone = "UTC"\nretries = 1\nbackoff_seconds = 0.01',
        source,
    )
    http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(status=500))
    env = client_env(prefect_server, config, pg_url)
    api = prefect_server["PREFECT_API_URL"]
    with serving(env, tmp_path, source):
        failed = trigger_backfill(env, tmp_path, source, DAYS[0], DAYS[-1])
        shown = failed.stdout + failed.stderr
        assert failed.returncode != 0, shown
        assert "Failed" in shown, shown
        # `--watch` prints the final state's name; its message names the failed day
        [run] = flow_runs(api, f"backfill {source} {DAYS[0]}..{DAYS[-1]}")
        assert run["state"]["type"] == "FAILED"
        assert run["state"]["message"] == f"1 of 3 day(s) failed: {DAYS[1]}"

        ledger_rows = partition_rows(pg_url)
        assert {d: r["status"] for d, r in ledger_rows.items()} == {
            DAYS[0]: "done",
            DAYS[1]: "failed",
            DAYS[2]: "done",
        }
        assert "HTTP 500" in ledger_rows[DAYS[1]]["note"]
        table = latest_table(api, source)
        assert table[DAYS[1]]["status"] == "failed" and "HTTP 500" in table[DAYS[1]]["reason"]
        failed_link = table[DAYS[1]]["flow_run"]
        assert failed_link.endswith(f"/runs/flow-run/{ledger_rows[DAYS[1]]['run_id']}")

        # The dump is there now; the operator backfills just that day (README, operators).
        http_server.route(f"/wire/{DAYS[1]}.jsonl", Reply(body=daily_dump(1)))
        retried = trigger_backfill(env, tmp_path, source, DAYS[1], DAYS[1])
        assert retried.returncode == 0, retried.stdout + retried.stderr

    assert partition_states(pg_url) == {DAYS[0]: ("done", 3), DAYS[1]: ("done", 3), DAYS[2]: ("done", 4)}
    assert counts(pg_url) == (9, 1)  # the day-3 re-issue of a day-1 story is still one copy
    assert partition_rows(pg_url)[DAYS[1]]["attempts"] == 2
    # The latest table under the source's key shows the retried day done, the others as before.
    table = latest_table(api, source)
    assert {d: (r["status"], r["read"], r["kept"], r["reason"]) for d, r in table.items()} == {
        DAYS[0]: ("done", 3, 3, ""),
        DAYS[1]: ("done", 3, 3, ""),
        DAYS[2]: ("done", 4, 3, ""),
    }
    assert table[DAYS[1]]["flow_run"] != failed_link
    assert table[DAYS[1]]["flow_run"].endswith(f"/runs/flow-run/{partition_rows(pg_url)[DAYS[1]]['run_id']}")


def flow_runs(api: str, name: str) -> list[dict]:
    found = requests.post(
        f"{api}/flow_runs/filter", json={"flow_runs": {"name": {"any_": [name]}}}, timeout=30
    )
    assert found.ok, found.text
    return found.json()


def latest_table(api: str, source: str) -> dict[str, dict]:
    """The rows, by day, of the newest artifact under the source's partitions key."""
    found = requests.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": [artifact_key(source)]}}, "sort": "CREATED_DESC", "limit": 1},
        timeout=30,
    )
    assert found.ok and found.json(), found.text
    data = found.json()[0]["data"]
    return {r["day"]: r for r in (json.loads(data) if isinstance(data, str) else data)}


def partition_rows(url: str) -> dict[str, dict]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Partition.__table__)).all()
    engine.dispose()
    return {r.day.isoformat(): dict(r._mapping) for r in rows}


SECRET = "s3cret-pw"


def with_password(url: str) -> str:
    """The same database with a password in the URL (the test server trusts loopback anyway)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def test_served_deployments_never_carry_the_database_url(tmp_path: Path, monkeypatch, pg_url: str) -> None:
    """`newsetl serve --db URL`: the URL reaches flow runs through the environment only."""
    import json

    import prefect
    from typer.testing import CliRunner

    from flows.cli import app

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[sources.inbox]\nkind = "folder"\npath = "{inbox}"\ncron = "0 6 * * *"\n', encoding="utf-8"
    )
    # a reachable warehouse (serve checks it before anything starts); trust auth ignores the password
    host = make_url(pg_url)
    url = host.set(password=SECRET).render_as_string(hide_password=False)
    served: list = []
    monkeypatch.setattr(prefect, "serve", lambda *deployments, **_: served.extend(deployments))
    monkeypatch.setenv("NEWSETL_DATABASE_URL", "")
    # serve needs a Prefect server and asks it about work pools; neither is under test here
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr("flows.deployments.taken_by_work_pools", lambda deployments: [])

    result = CliRunner().invoke(app, ["--config", str(config), "serve", "--db", url])

    assert result.exit_code == 0, result.output
    assert {d.name for d in served} == {"ingest-inbox", "ingest-manual", "backfill"}
    for deployment in served:
        shown = json.dumps(deployment.parameters) + json.dumps(deployment.job_variables or {})
        assert SECRET not in shown and host.database not in shown, deployment.name
    assert os.environ["NEWSETL_DATABASE_URL"] == url  # served runs inherit it
