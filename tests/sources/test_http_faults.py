"""Fault injection for HTTP sources: what a user finds in the warehouse after each fault.

Every test serves a dump through a real server on 127.0.0.1 that misbehaves in
one way, ingests it as a configured source (fast retry settings), and checks the
invariant: either the dump loaded completely and exactly once (the same counts as
a clean run of the same bytes) or the run failed with a clear error and nothing
of the dump is in the tables.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from etl.errors import TerminalError, TransientError
from etl.warehouse.db import make_engine
from tests.conftest import news_record, story
from tests.httpserver import Reply, ScriptedServer
from tests.sources.warehouse_probe import counts, ingest_source, last_run, write_source

RECORDS = [news_record(f"Fault story {i}", story(900 + i)) for i in range(6)]
RECORDS.append(news_record("Fault story copy", story(900)))  # an exact duplicate of the first
DUMP = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
GZ = gzip.compress(DUMP)
NOTHING = {"articles": 0, "duplicates": 0, "rejects": 0, "dumps_done": 0}


@pytest.fixture(scope="module")
def clean() -> dict[str, dict[str, int]]:
    """Counts after a clean run of each body, filled in once per module."""
    return {}


def clean_counts(clean: dict, tmp_path_factory, body: bytes, suffix: str) -> dict[str, int]:
    if suffix not in clean:
        root = tmp_path_factory.mktemp("clean")
        with ScriptedServer() as server:
            server.route(f"/clean/wire-2024-03-04{suffix}", Reply(body=body))
            config = write_source(root, f"{server.base}/clean/wire-{{date:%Y-%m-%d}}{suffix}")
            engine = make_engine(f"sqlite:///{root / 'clean.db'}")
            ingest_source(engine, config)
            clean[suffix] = counts(engine)
            engine.dispose()
    assert clean[suffix]["articles"] == 6 and clean[suffix]["duplicates"] == 1
    return clean[suffix]


def run(tmp_path: Path, db_url: str, server: ScriptedServer, *replies: Reply, suffix=".jsonl", **keys):
    """Serve ``replies`` for the day's URL and ingest it; returns (engine, summary or exception)."""
    server.route(f"/d/wire-2024-03-04{suffix}", *replies)
    config = write_source(tmp_path, f"{server.base}/d/wire-{{date:%Y-%m-%d}}{suffix}", **keys)
    engine = make_engine(db_url)
    try:
        return engine, ingest_source(engine, config)
    except Exception as exc:  # the run's failure is what some tests check
        return engine, exc


def assert_loaded_once(engine, outcome, expected: dict[str, int]) -> None:
    assert not isinstance(outcome, Exception), outcome
    assert outcome.ok
    assert counts(engine) == expected


def assert_failed_cleanly(engine, outcome, tmp_path: Path, *phrases: str) -> None:
    assert isinstance(outcome, TransientError | TerminalError), outcome
    for phrase in phrases:
        assert phrase in str(outcome)
    run_row = last_run(engine)
    assert run_row.status == "failed" and all(p in run_row.error for p in phrases)
    assert counts(engine) == NOTHING
    leftovers = [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]
    assert leftovers == []  # no half download left to be mistaken for a dump


def test_body_shorter_than_content_length_is_fetched_again(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory
) -> None:
    engine, out = run(tmp_path, sqlite_url, http_server, Reply(body=DUMP, truncate_to=200), Reply(body=DUMP))
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))
    assert len(http_server.hits("/d/wire-2024-03-04.jsonl")) == 2


def test_body_always_short_fails_clearly_and_loads_nothing(http_server, tmp_path, sqlite_url) -> None:
    engine, out = run(tmp_path, sqlite_url, http_server, Reply(body=DUMP, truncate_to=200))
    assert_failed_cleanly(engine, out, tmp_path, "giving up after 3 attempts", "cut off")


def test_connection_reset_mid_body_is_fetched_again(
    http_server, tmp_path, pg_url, clean, tmp_path_factory
) -> None:
    engine, out = run(tmp_path, pg_url, http_server, Reply(body=DUMP, reset_after=300), Reply(body=DUMP))
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))
    engine.dispose()


def test_connection_reset_every_time_fails_clearly_and_loads_nothing(http_server, tmp_path, pg_url) -> None:
    engine, out = run(tmp_path, pg_url, http_server, Reply(body=DUMP, reset_after=300))
    assert_failed_cleanly(engine, out, tmp_path, "giving up after 3 attempts")
    engine.dispose()


def test_dripping_server_is_cut_off_by_the_total_deadline(http_server, tmp_path, sqlite_url) -> None:
    started = time.monotonic()
    engine, out = run(
        tmp_path,
        sqlite_url,
        http_server,
        Reply(body=DUMP, drip=0.2),  # each byte well within read_timeout: only a deadline ends it
        read_timeout=1.0,
        total_timeout=0.6,
        retries=1,
    )
    assert time.monotonic() - started < 5
    assert_failed_cleanly(engine, out, tmp_path, "giving up after 2 attempts", "total_timeout (0.6 s)")


def test_drip_then_a_good_answer_loads_once(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory
) -> None:
    engine, out = run(
        tmp_path,
        sqlite_url,
        http_server,
        Reply(body=DUMP, drip=0.2),
        Reply(body=DUMP),
        read_timeout=1.0,
        total_timeout=0.6,
    )
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))


def test_5xx_then_success_loads_once(http_server, tmp_path, sqlite_url, clean, tmp_path_factory) -> None:
    engine, out = run(
        tmp_path, sqlite_url, http_server, Reply(status=503), Reply(status=502), Reply(body=DUMP)
    )
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))
    assert len(http_server.hits("/d/wire-2024-03-04.jsonl")) == 3


def test_429_with_retry_after_then_success_waits_and_loads_once(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory
) -> None:
    started = time.monotonic()
    engine, out = run(
        tmp_path,
        sqlite_url,
        http_server,
        Reply(status=429, headers={"Retry-After": "1"}),
        Reply(body=DUMP),
    )
    assert time.monotonic() - started >= 1.0  # Retry-After beat the 0.01 s backoff
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))


def test_redirect_to_a_local_file_is_refused(http_server, tmp_path, sqlite_url) -> None:
    engine, out = run(
        tmp_path,
        sqlite_url,
        http_server,
        Reply(status=302, headers={"Location": "file:///etc/passwd"}),
    )
    assert_failed_cleanly(engine, out, tmp_path, "not http(s); refused")
    assert len(http_server.hits("/d/wire-2024-03-04.jsonl")) == 1  # terminal: not retried


def test_redirect_to_another_port_is_followed_without_credentials(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory, monkeypatch
) -> None:
    monkeypatch.setenv("WIRE_TOKEN", "Bearer redirect-s3cr3t")
    with ScriptedServer() as mirror:
        target = mirror.route("/mirror/wire.jsonl", Reply(body=DUMP))
        engine, out = run(
            tmp_path,
            sqlite_url,
            http_server,
            Reply(status=302, headers={"Location": target}),
            auth_header_env="WIRE_TOKEN",
        )
        assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))
        assert http_server.hits("/d/wire-2024-03-04.jsonl")[0].headers["Authorization"] == (
            "Bearer redirect-s3cr3t"
        )
        assert "Authorization" not in mirror.hits("/mirror/wire.jsonl")[0].headers


def test_redirect_to_another_port_drops_url_userinfo(http_server, tmp_path, sqlite_url) -> None:
    with ScriptedServer() as mirror:
        target = mirror.route("/mirror/wire.jsonl", Reply(body=DUMP))
        http_server.route("/d/private.jsonl", Reply(status=302, headers={"Location": target}))
        host = http_server.base.removeprefix("http://")
        config = write_source(tmp_path, f"http://alice:redirect-pw@{host}/d/private.jsonl")
        engine = make_engine(sqlite_url)
        assert ingest_source(engine, config).totals.articles == 6
        assert http_server.hits("/d/private.jsonl")[0].headers["Authorization"].startswith("Basic ")
        assert "Authorization" not in mirror.hits("/mirror/wire.jsonl")[0].headers


def test_gzip_encoded_body_cut_short_is_fetched_again(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory
) -> None:
    encoded = {"Content-Encoding": "gzip"}
    engine, out = run(
        tmp_path,
        sqlite_url,
        http_server,
        Reply(body=GZ, headers=encoded, truncate_to=len(GZ) // 2),
        Reply(body=GZ[: len(GZ) // 2], headers=encoded),  # honest Content-Length, cut stream
        Reply(body=GZ, headers=encoded),
    )
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, DUMP, ".jsonl"))
    assert len(http_server.hits("/d/wire-2024-03-04.jsonl")) == 3


def test_cut_gzip_file_served_whole_fails_clearly_and_loads_nothing(
    http_server, tmp_path, sqlite_url
) -> None:
    engine, out = run(tmp_path, sqlite_url, http_server, Reply(body=GZ[: len(GZ) - 30]), suffix=".jsonl.gz")
    assert_failed_cleanly(engine, out, tmp_path, "gzip stream ends before its end marker")


def test_gzip_file_with_several_members_is_whole(
    http_server, tmp_path, sqlite_url, clean, tmp_path_factory
) -> None:
    half = len(RECORDS) // 2
    parts = [RECORDS[:half], RECORDS[half:]]
    body = b"".join(gzip.compress("".join(json.dumps(r) + "\n" for r in p).encode()) for p in parts)
    engine, out = run(tmp_path, sqlite_url, http_server, Reply(body=body), suffix=".jsonl.gz")
    assert_loaded_once(engine, out, clean_counts(clean, tmp_path_factory, GZ, ".jsonl.gz"))
