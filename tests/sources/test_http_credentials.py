"""A password in a source URL authenticates the fetch and is stored, logged and shown nowhere.

Each test fetches from a loopback server that requires basic auth, succeeding or
failing, then searches every table of the warehouse, the captured log output,
the messages and (for the flow) Prefect's record of the run for the password.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from etl.errors import TerminalError, TransientError
from etl.runner import run_ingest
from etl.warehouse.db import make_engine
from tests.httpserver import Reply
from tests.sources.test_http import DUMP
from tests.sources.warehouse_probe import SETTINGS, counts, every_value, ingest_source, write_source

PASSWORD = "pw-Zq7-never-stored"


def with_password(base: str, path: str, password: str = PASSWORD) -> str:
    return base.replace("http://", f"http://alice:{password}@") + path


def assert_nowhere(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # urllib3's and requests' own lines included
    return caplog


def test_password_in_an_ad_hoc_url_authenticates_and_is_stored_nowhere(
    http_server, tmp_path: Path, pg_url: str, everything_logged, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    http_server.route("/d/private.jsonl", Reply(body=DUMP, auth=("alice", PASSWORD)))
    url = with_password(http_server.base, "/d/private.jsonl")
    engine = make_engine(pg_url)
    summary = run_ingest(engine, [url], settings=SETTINGS, source="wire")
    assert summary.ok and counts(engine)["articles"] == 3  # the fetch did authenticate
    stored = every_value(engine)
    assert http_server.base + "/d/private.jsonl" in stored  # runs.parameters, dumps.location, locators
    assert_nowhere(stored, everything_logged.text, summary.markdown())
    assert_nowhere(*(str(p) for p in (tmp_path / "data").rglob("*")))
    engine.dispose()


def test_wrong_password_fails_without_showing_it(
    http_server, tmp_path: Path, sqlite_url: str, everything_logged, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    http_server.route("/d/private.jsonl", Reply(body=DUMP, auth=("alice", "another")))
    engine = make_engine(sqlite_url)
    with pytest.raises(TerminalError, match="HTTP 401") as err:
        run_ingest(engine, [with_password(http_server.base, "/d/private.jsonl")], settings=SETTINGS)
    assert_nowhere(str(err.value), every_value(engine), everything_logged.text)
    assert "runs: " in every_value(engine)  # the failed run is recorded, redacted
    engine.dispose()


@pytest.mark.parametrize("reply", ["server error", "connection refused"])
def test_configured_url_with_a_password_fails_without_showing_it(
    reply: str, http_server, tmp_path: Path, sqlite_url: str, everything_logged
) -> None:
    import socket

    if reply == "server error":
        http_server.route("/d/wire-2024-03-04.jsonl", Reply(status=500))
        base = http_server.base
    else:
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            base = f"http://127.0.0.1:{s.getsockname()[1]}"
    config = write_source(tmp_path, with_password(base, "/d/wire-{date:%Y-%m-%d}.jsonl"), retries=1)
    engine = make_engine(sqlite_url)
    with pytest.raises(TransientError, match="giving up after 2 attempts") as err:
        ingest_source(engine, config)
    assert_nowhere(str(err.value), every_value(engine), everything_logged.text)
    engine.dispose()


def test_bad_configured_url_error_does_not_show_the_password(tmp_path: Path) -> None:
    from etl.errors import ConfigError
    from etl.sources.config import load_sources

    config = write_source(tmp_path, f"http://alice:{PASSWORD}@127.0.0.1/d/{{day}}.jsonl")
    with pytest.raises(ConfigError, match="bad template") as err:
        load_sources(config)
    assert_nowhere(str(err.value))


def flow_run_record(run_id: str):
    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(run_id)

    return run_coro_as_sync(read())


def test_flow_parameters_hold_no_password(prefect_harness, http_server, tmp_path: Path, monkeypatch) -> None:
    from etl.sources.credentials import hold
    from flows.ingest import ingest

    monkeypatch.chdir(tmp_path)
    http_server.route("/d/private.jsonl", Reply(body=DUMP, auth=("alice", PASSWORD)))
    url = with_password(http_server.base, "/d/private.jsonl")
    db = f"sqlite:///{tmp_path / 'w.db'}"

    # As the CLI passes it: redacted, the credentials held in memory for the fetch.
    summary = ingest(locations=[hold(url)], db_url=db)
    assert summary.totals.articles == 3
    record = flow_run_record(summary.run_id)
    assert record.parameters["locations"] == [http_server.base + "/d/private.jsonl"]
    assert_nowhere(str(record.parameters), record.name, every_value(make_engine(db)))

    # A direct caller that passes the password: the stored parameters are overwritten.
    again = ingest(locations=[url], db_url=f"sqlite:///{tmp_path / 'w2.db'}")
    assert again.totals.articles == 3
    assert_nowhere(str(flow_run_record(again.run_id).parameters))


def test_failed_flow_run_shows_no_password(prefect_harness, http_server, tmp_path: Path, monkeypatch) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.utilities.asyncutils import run_coro_as_sync

    from etl.sources.credentials import hold
    from flows.ingest import ingest

    monkeypatch.chdir(tmp_path)
    http_server.route("/d/private.jsonl", Reply(body=DUMP, auth=("alice", "another")))
    with pytest.raises(TerminalError) as err:
        ingest(locations=[hold(with_password(http_server.base, "/d/private.jsonl"))], db_url="sqlite:///w.db")
    assert_nowhere(str(err.value))

    async def failed_runs():
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED]))
                )
            )

    runs = run_coro_as_sync(failed_runs())
    assert runs
    assert_nowhere(*(f"{r.name} {r.parameters} {r.state.message}" for r in runs))


def test_cli_keeps_the_password_out_of_prefect_and_the_warehouse(http_server, tmp_path: Path) -> None:
    """End to end as a user runs it: then search the bytes of every file Prefect and the run wrote."""
    from tests.test_cli import newsetl

    home = tmp_path / "prefect-home"
    http_server.route("/d/private.jsonl", Reply(body=DUMP, auth=("alice", PASSWORD)))
    url = with_password(http_server.base, "/d/private.jsonl")
    out = newsetl("ingest", url, "--source", "wire", cwd=tmp_path, prefect_home=home)
    assert out.returncode == 0, out.stderr
    assert counts(make_engine(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}"))["articles"] == 3
    assert_nowhere(out.stdout, out.stderr)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("prefect.db") for p in written)  # Prefect's own database is searched
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), path
        assert_nowhere(str(path))
