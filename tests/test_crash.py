"""``kill -9`` of ``newsetl ingest`` at several points, then a re-run.

Before: the killed run's ``runs`` row stayed ``running`` and its dump ``loading``
forever, and the temporary Prefect server outlived the command. Now the re-run
marks the dead run ``abandoned`` (``newsetl runs`` shows it), resumes its dump
after the last committed batch, and the warehouse ends exactly as after one
clean run; the temporary server dies with the command.

The kill points are the checkpoints of etl/checkpoints.py (``NEWSETL_PAUSE_AT``):
the process freezes there and says so through a file, then the test kills it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from etl.config import IngestConfig, Settings
from etl.runner import run_ingest
from etl.warehouse.db import make_engine
from etl.warehouse.models import Dump, Run
from tests.conftest import PG_ADMIN_URL, wait_for
from tests.faults import snapshot, write_dumps
from tests.test_deployments import SECRET, with_password

BATCH = 5

pytestmark = pytest.mark.slow  # each test starts newsetl two or three times (~20-50 s)


@pytest.fixture
def second_pg_url(postgres_admin: str):
    name = f"newsetl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(env: dict[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSETL_"))},
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "COLUMNS": "200",
        **env,
    }


def newsetl(args: list[str], cwd: Path, env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=_env(env), **kw)


def newsetl_run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def kill_at(point: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> int:
    """Start ``newsetl``, wait until it freezes at ``point``, ``kill -9`` it; returns its pid."""
    marker = cwd / f"paused-{uuid.uuid4().hex[:6]}"
    log = (cwd / "killed.log").open("w")
    proc = newsetl(
        args,
        cwd,
        {**env, "NEWSETL_PAUSE_AT": point, "NEWSETL_PAUSE_FILE": str(marker)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, timeout, f"checkpoint {point}")
        assert proc.poll() is None, (cwd / "killed.log").read_text()
        assert marker.read_text() == str(proc.pid)  # frozen in the command itself
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return proc.pid


def clean_run(url: str, folder: Path) -> dict:
    settings = replace(Settings(), ingest=IngestConfig(batch_size=BATCH, workers=0))
    engine = make_engine(url)
    run_ingest(engine, [str(folder)], settings=settings)
    engine.dispose()
    return snapshot(url)


def states(url: str) -> tuple[list[str], list[str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        runs = sorted(conn.execute(select(Run.status)).scalars())
        dumps = sorted(conn.execute(select(Dump.status)).scalars())
    engine.dispose()
    return runs, dumps


@pytest.mark.parametrize("point", ["prepare:4", "load:4", "dump-done:1"])
def test_kill_9_then_rerun_ends_as_one_clean_run(
    point: str, prefect_server, pg_url: str, second_pg_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "wire"
    write_dumps(folder, dumps=3, per_dump=12)
    config = tmp_path / "newsetl.toml"
    config.write_text(f"[ingest]\nbatch_size = {BATCH}\nworkers = 0\n", encoding="utf-8")
    # a password in the URL (the test server trusts loopback): it must not reach Prefect
    args = ["--config", str(config), "ingest", str(folder), "--db", with_password(pg_url)]

    kill_at(point, args, tmp_path, prefect_server, timeout=180)
    runs, dumps = states(pg_url)
    assert runs == ["running"]  # what a crash leaves
    assert "loading" in dumps or point == "dump-done:1"

    rerun = newsetl_run(args, tmp_path, prefect_server)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    assert states(pg_url) == (["abandoned", "completed"], ["done", "done", "done"])
    assert snapshot(pg_url) == clean_run(second_pg_url, folder)
    listed = newsetl_run(["runs", "--db", pg_url], tmp_path, {})
    assert "abandoned" in listed.stdout

    import requests

    flow_runs = requests.post(f"{prefect_server['PREFECT_API_URL']}/flow_runs/filter", json={}, timeout=30)
    assert flow_runs.ok and flow_runs.json()
    assert SECRET not in flow_runs.text  # the URL went through the environment, not a parameter


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_9_leaves_no_prefect_server_or_worker_behind(sqlite_url: str, tmp_path: Path) -> None:
    """The temporary Prefect server, the batch workers and the watchdog all go with the command."""
    folder = tmp_path / "wire"
    write_dumps(folder, dumps=1, per_dump=30)
    config = tmp_path / "newsetl.toml"
    config.write_text(f"[ingest]\nbatch_size = {BATCH}\nworkers = 1\n", encoding="utf-8")
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home")}  # no PREFECT_API_URL: the temporary server
    marker = tmp_path / "paused"
    proc = newsetl(
        ["--config", str(config), "ingest", str(folder), "--db", sqlite_url],
        tmp_path,
        {**env, "NEWSETL_PAUSE_AT": "load:3", "NEWSETL_PAUSE_FILE": str(marker)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, 400, "the first batches")
        assert proc.poll() is None
        children = _children(proc.pid)
        commands = [Path(f"/proc/{p}/cmdline").read_bytes() for p in children]
        assert any(b"uvicorn" in c for c in commands), "no temporary Prefect server among the children"
        assert any(b"multiprocessing" in c for c in commands), "no batch worker among the children"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [c for p, c in zip(children, commands, strict=True) if _alive(p)]
        assert not left, f"outlived kill -9 of newsetl: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
