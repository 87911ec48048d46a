"""End to end against a real `prefect server start`: serve the deployments, trigger a backfill.

Starts a Prefect server on a free loopback port with its own PREFECT_HOME, runs
`newsetl serve` against it, triggers the `backfill` deployment through the
Prefect CLI for three days served by a local HTTP server, waits for it, checks
the warehouse and the partition ledger, then triggers it again and checks that
nothing changed. Takes about a minute.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from etl.warehouse import ledger
from etl.warehouse.db import make_engine
from tests.test_backfill import DAYS, counts, partition_states, serve_wire

PREFECT = str(Path(sys.executable).with_name("prefect"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def prefect_server(tmp_path: Path):
    port = free_port()
    home = tmp_path / "prefect-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(lambda: requests.get(f"{api}/health", timeout=2).ok, 120, "the Prefect server")
        yield {**env, "PREFECT_API_URL": api}
    finally:
        stop(proc)
        log.close()


def test_served_backfill_deployment_end_to_end(
    prefect_server, http_server, pg_url: str, tmp_path: Path
) -> None:
    config = serve_wire(http_server, tmp_path, 'cron = "0 6 * * *"\ntimezone = "UTC"')
    env = {**prefect_server, "NEWSETL_CONFIG": str(config), "NEWSETL_DATABASE_URL": with_password(pg_url)}
    serve_log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
    )

    def trigger() -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                PREFECT,
                "deployment",
                "run",
                "backfill/backfill",
                "--param",
                "source=wire",
                "--param",
                f"start={DAYS[0]}",
                "--param",
                f"end={DAYS[-1]}",
                "--watch",
                "--watch-timeout",
                "150",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=200,
        )

    try:

        def listed() -> bool:
            ls = [PREFECT, "deployment", "ls"]
            return (
                "ingest-wire"
                in subprocess.run(ls, env=env, capture_output=True, text=True, timeout=60).stdout
            )

        wait_for(listed, 90, "the served deployments")
        first = trigger()
        assert first.returncode == 0, first.stdout + first.stderr
        assert partition_states(pg_url) == {DAYS[0]: ("done", 3), DAYS[1]: ("done", 3), DAYS[2]: ("done", 4)}
        assert counts(pg_url) == (9, 1)
        # the backfill has its own runs row, with the counts of the day runs of the workers
        engine = make_engine(pg_url)
        backfills = [r for r in ledger.recent_runs(engine) if r["kind"] == "backfill"]
        engine.dispose()
        assert [(r["status"], r["records"], r["dumps_read"]) for r in backfills] == [("completed", 10, 3)]

        second = trigger()
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
    finally:
        stop(serve)
        serve_log.close()


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
