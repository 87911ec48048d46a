"""Preparing on a Dask cluster: the same warehouse as a local run, row for row."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from etl.warehouse.models import ArticleRow, Duplicate, RejectRow
from tests.conftest import PG_ADMIN_URL, edit_words, news_record, story, write_jsonl
from tests.test_cli import SAMPLES, newsetl

pytest.importorskip("prefect_dask")
distributed = pytest.importorskip("distributed")

# Columns that differ between two runs of the same input by nature: the run's id and the load time.
_RUN_COLUMNS = {"run_id", "ingested_at"}


def warehouse_rows(url: str) -> dict[str, list[tuple]]:
    """Every article, duplicate and reject as sorted rows, without run ids, load times and row ids."""
    engine = create_engine(url)
    rows = {}
    with engine.connect() as conn:
        for model in (ArticleRow, Duplicate, RejectRow):
            skip = _RUN_COLUMNS | ({"id"} if model is not ArticleRow else set())
            cols = [c for c in model.__table__.columns if c.name not in skip]
            rows[model.__tablename__] = sorted(
                (tuple(repr(v) for v in r) for r in conn.execute(select(*cols))), key=repr
            )
    engine.dispose()
    return rows


@pytest.fixture
def second_pg_url(postgres_admin: str) -> Iterator[str]:
    """A second empty database, for the run to compare with."""
    name = f"newsetl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield (
        make_url(PG_ADMIN_URL)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    from etl.warehouse.db import _ENGINES

    for key in [k for k in _ENGINES if name in k]:
        _ENGINES.pop(key).dispose()
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dumps(folder: Path) -> Path:
    """Unrelated stories, exact and near copies spread over batches, and a record without a body."""
    folder.mkdir()
    originals = [story(700 + i) for i in range(6)]
    write_jsonl(
        folder / "a.jsonl",
        [news_record(f"A{i}", text) for i, text in enumerate(originals)]
        + [news_record("A0 again", originals[0], url="https://example.org/a0-again")],
    )
    write_jsonl(
        folder / "b.jsonl",
        [news_record(f"B{i}", edit_words(text, 3, seed=i)) for i, text in enumerate(originals[:4])]
        + [news_record(f"B new {i}", story(800 + i)) for i in range(5)]
        + [{"title": "no body", "url": "https://example.org/empty"}],
    )
    return folder


@pytest.mark.postgres
def test_flow_on_a_local_dask_cluster_gives_the_local_warehouse(
    prefect_harness, pg_url: str, second_pg_url: str, tmp_path: Path
) -> None:
    from flows.ingest import ingest

    config = tmp_path / "newsetl.toml"
    config.write_text("[ingest]\nbatch_size = 3\n", encoding="utf-8")
    dumps = _dumps(tmp_path / "dumps")

    local = ingest(locations=[str(dumps)], db_url=pg_url, config_path=str(config))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = ingest(
            locations=[str(dumps)],
            db_url=second_pg_url,
            config_path=str(config),
            dask_address=cluster.scheduler_address,
        )
        with distributed.Client(cluster) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)

    assert local.totals.records == on_dask.totals.records == 17
    assert (on_dask.totals.exact_duplicates, on_dask.totals.near_duplicates, on_dask.totals.rejects) == (
        local.totals.exact_duplicates,
        local.totals.near_duplicates,
        local.totals.rejects,
    )
    assert local.totals.near_duplicates >= 3 and local.totals.rejects == 1
    rows = warehouse_rows(second_pg_url)
    assert rows == warehouse_rows(pg_url)
    assert len(rows["articles"]) == local.totals.articles
    # 17 records in batches of 3: every batch was prepared by the cluster.
    assert sum(executed.values()) == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def loopback_cluster() -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on loopback, stopped afterwards."""
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            **quiet,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                    **quiet,
                )
            )
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_with_dask_address_gives_the_local_warehouse(
    loopback_cluster: str, pg_url: str, second_pg_url: str, tmp_path: Path, prefect_home: Path
) -> None:
    config = tmp_path / "newsetl.toml"
    config.write_text("[ingest]\nbatch_size = 4\n", encoding="utf-8")
    local = newsetl(
        "--config",
        str(config),
        "ingest",
        str(SAMPLES),
        "--db",
        pg_url,
        cwd=tmp_path,
        prefect_home=prefect_home,
    )
    assert local.returncode == 0, "local run: " + local.stderr
    on_dask = newsetl(
        "--config",
        str(config),
        "ingest",
        str(SAMPLES),
        "--db",
        second_pg_url,
        "--dask-address",
        loopback_cluster,
        cwd=tmp_path,
        prefect_home=prefect_home,
    )
    assert on_dask.returncode == 0, "run on Dask: " + on_dask.stderr
    rows = warehouse_rows(second_pg_url)
    assert rows == warehouse_rows(pg_url)
    # samples/README.md: 26 kept, 3 exact + 3 near duplicates, 3 rejects
    assert (len(rows["articles"]), len(rows["duplicates"]), len(rows["rejects"])) == (26, 6, 3)


def test_an_unreachable_dask_address_is_one_line_and_exit_2(tmp_path: Path, prefect_home: Path) -> None:
    started = time.perf_counter()
    out = newsetl(
        "ingest",
        str(SAMPLES),
        "--db",
        f"sqlite:///{tmp_path / 'wh.db'}",
        "--dask-address",
        f"tcp://127.0.0.1:{_free_port()}",
        cwd=tmp_path,
        prefect_home=prefect_home,
    )
    assert out.returncode == 2, out.stderr
    assert "Dask scheduler" in out.stderr and "Traceback" not in out.stderr
    assert time.perf_counter() - started < 30  # before Prefect's start-up


def test_a_malformed_dask_address_in_the_environment_is_refused(tmp_path: Path, prefect_home: Path) -> None:
    out = newsetl(
        "ingest",
        str(SAMPLES),
        "--db",
        f"sqlite:///{tmp_path / 'wh.db'}",
        cwd=tmp_path,
        prefect_home=prefect_home,
        env={"NEWSETL_DASK_ADDRESS": "not an address"},
    )
    assert out.returncode == 2
    assert "NEWSETL_DASK_ADDRESS must be a Dask scheduler address" in out.stderr


def test_dask_address_precedence_cli_then_environment_then_config(tmp_path: Path, monkeypatch) -> None:
    from etl.config import load_settings, resolve_dask_address
    from etl.errors import ConfigError

    config = tmp_path / "newsetl.toml"
    config.write_text('[ingest]\ndask_address = "tcp://config-host:8786"\n', encoding="utf-8")
    settings = load_settings(config)
    monkeypatch.delenv("NEWSETL_DASK_ADDRESS", raising=False)
    assert resolve_dask_address(None, settings) == "tcp://config-host:8786"
    monkeypatch.setenv("NEWSETL_DASK_ADDRESS", "tcp://env-host:8786")
    assert resolve_dask_address(None, settings) == "tcp://env-host:8786"
    assert resolve_dask_address("tcp://cli-host:8786", settings) == "tcp://cli-host:8786"
    monkeypatch.delenv("NEWSETL_DASK_ADDRESS")
    assert resolve_dask_address(None, load_settings(None)) is None

    config.write_text('[ingest]\ndask_address = "config-host"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="ingest.dask_address must be a Dask scheduler address"):
        load_settings(config)
