"""HTTP fetching against a real server on 127.0.0.1: retries, conditional GET, bad answers."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from etl.config import Settings
from etl.errors import TerminalError, TransientError
from etl.runner import run_ingest
from etl.sources.config import HttpSource
from etl.sources.http import Validators, fetch
from tests.conftest import news_record, story
from tests.httpserver import Reply

DUMP = "".join(json.dumps(news_record(f"Story {i}", story(500 + i))) + "\n" for i in range(3)).encode()


def source(tmp_path: Path, url: str = "http://127.0.0.1/x", **kw) -> HttpSource:
    defaults = dict(
        name="wire",
        url=url,
        download_dir=str(tmp_path / "downloads"),
        backoff_seconds=0.01,
        retries=3,
    )
    return HttpSource(**{**defaults, **kw})


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_downloads_atomically_with_sha256_and_validators(http_server, tmp_path: Path) -> None:
    url = http_server.route(
        "/d/wire.jsonl",
        Reply(body=DUMP, etag='"v1"', headers={"Last-Modified": "Mon, 04 Mar 2024 10:00:00 GMT"}),
    )
    out = fetch(source(tmp_path, url), url)
    assert out.status == "fetched"
    assert out.path.read_bytes() == DUMP
    assert out.size == len(DUMP) and len(out.sha256) == 64
    assert (out.etag, out.last_modified) == ('"v1"', "Mon, 04 Mar 2024 10:00:00 GMT")
    assert not list(out.path.parent.glob("*.part"))

    again = fetch(source(tmp_path, url), url, Validators(out.etag, out.last_modified))
    assert again.status == "not_modified"
    sent = http_server.hits("/d/wire.jsonl")[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Mon, 04 Mar 2024 10:00:00 GMT"


def test_retries_5xx_and_429_honouring_retry_after(http_server, tmp_path: Path) -> None:
    url = http_server.route(
        "/d/flaky.jsonl",
        Reply(status=500),
        Reply(status=429, headers={"Retry-After": "2"}),
        Reply(body=DUMP),
    )
    sleeps = Sleeps()
    out = fetch(source(tmp_path, url), url, sleep=sleeps)
    assert out.status == "fetched" and out.attempts == 3
    assert sleeps[0] == pytest.approx(0.01)
    assert sleeps[1] >= 2.0  # Retry-After wins over the short backoff


def test_truncated_body_is_retried(http_server, tmp_path: Path) -> None:
    url = http_server.route("/d/cut.jsonl", Reply(body=DUMP, truncate_to=100), Reply(body=DUMP))
    out = fetch(source(tmp_path, url), url, sleep=Sleeps())
    assert out.attempts == 2
    assert out.path.read_bytes() == DUMP


def test_slow_server_times_out_then_gives_up_with_a_clear_error(http_server, tmp_path: Path) -> None:
    url = http_server.route("/d/slow.jsonl", Reply(body=DUMP, delay=1.5))
    src = source(tmp_path, url, read_timeout=0.3, retries=1)
    with pytest.raises(TransientError, match=r"giving up after 2 attempts.*Timeout|timed out"):
        fetch(src, url, sleep=Sleeps())


def test_missing_dump_is_an_outcome_not_a_crash(http_server, tmp_path: Path) -> None:
    out = fetch(source(tmp_path), http_server.base + "/d/none.jsonl")
    assert out.status == "missing"


def test_html_error_page_is_refused_with_a_reason(http_server, tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    url = http_server.route("/d/login.jsonl", Reply(body=page, headers={"Content-Type": "text/html"}))
    out = fetch(source(tmp_path, url), url)
    assert out.refusal and "HTML page" in out.refusal and "text/html" in out.refusal


def test_oversized_dump_is_stopped_and_leaves_no_file(http_server, tmp_path: Path) -> None:
    url = http_server.route("/d/big.jsonl", Reply(body=b"x" * 5000, headers={"Content-Length": "5000"}))
    with pytest.raises(TerminalError, match="max_bytes"):
        fetch(source(tmp_path, url, max_bytes=1000), url)
    assert [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()] == []


def test_auth_header_comes_from_the_environment_and_is_never_shown(
    http_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIRE_TOKEN", "Bearer s3cr3t")
    url = http_server.route("/d/private.jsonl", Reply(status=403))
    with pytest.raises(TerminalError) as err:
        fetch(source(tmp_path, url, auth_header_env="WIRE_TOKEN"), url)
    assert http_server.hits("/d/private.jsonl")[0].headers["Authorization"] == "Bearer s3cr3t"
    assert "s3cr3t" not in str(err.value)


def test_configured_source_by_date_then_304_then_a_missing_day(
    http_server, tmp_path: Path, sqlite_url: str
) -> None:
    from etl.warehouse.db import make_engine

    http_server.route("/dumps/wire-2024-03-04.jsonl", Reply(body=DUMP, etag='"a"'))
    config = tmp_path / "sources.toml"
    config.write_text(
        f"""
[sources.wire]
kind = "http"
url = "{http_server.base}/dumps/wire-{{date:%Y-%m-%d}}.jsonl"
download_dir = "{tmp_path / "downloads"}"
""",
        encoding="utf-8",
    )
    engine = make_engine(sqlite_url)
    settings = replace(Settings())

    first = run_ingest(
        engine, [], settings=settings, source="wire", day=date(2024, 3, 4), config_path=str(config)
    )
    assert first.totals.articles == 3
    assert first.dumps[0].location.endswith("/dumps/wire-2024-03-04.jsonl")

    second = run_ingest(
        engine, [], settings=settings, source="wire", day=date(2024, 3, 4), config_path=str(config)
    )
    assert second.totals.records == 0
    assert "HTTP 304" in second.notes[0][1]

    missing = run_ingest(
        engine, [], settings=settings, source="wire", day=date(2024, 3, 5), config_path=str(config)
    )
    assert missing.ok and missing.totals.records == 0
    assert missing.notes[0][1] == "no dump for 2024-03-05 (HTTP 404)"
    engine.dispose()


def test_html_page_served_as_a_dump_becomes_one_reject(
    http_server, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl.warehouse.db import make_engine

    monkeypatch.chdir(tmp_path)  # ad-hoc URLs download under ./data/downloads

    url = http_server.route("/d/oops.jsonl", Reply(body=b"<html><body>Service unavailable</body></html>"))
    engine = make_engine(sqlite_url)
    summary = run_ingest(engine, [url], settings=Settings(), source="wire")
    assert (summary.totals.records, summary.totals.rejects) == (1, 1)
    engine.dispose()


def test_auth_from_a_secret_resolver(http_server, tmp_path: Path) -> None:
    url = http_server.route("/d/block.jsonl", Reply(body=DUMP))
    src = source(tmp_path, url, auth_secret_block="wire-token")
    fetch(src, url, resolve_secret={"wire-token": "Token abc"}.__getitem__)
    assert http_server.hits("/d/block.jsonl")[0].headers["Authorization"] == "Token abc"
    with pytest.raises(Exception, match="auth_secret_block needs Prefect"):
        fetch(src, url)


def test_two_urls_with_the_same_file_name_both_load(
    http_server, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from etl.sources.http import target_path
    from etl.warehouse.db import make_engine
    from etl.warehouse.models import Dump
    from tests.sources.warehouse_probe import SETTINGS, counts

    dump_a = "".join(json.dumps(news_record(f"A{i}", story(610 + i))) + "\n" for i in range(3)).encode()
    dump_b = "".join(json.dumps(news_record(f"B{i}", story(620 + i))) + "\n" for i in range(4)).encode()
    url_a = http_server.route("/a/today.jsonl", Reply(body=dump_a))
    url_b = http_server.route("/b/today.jsonl", Reply(body=dump_b))

    engine = make_engine(sqlite_url)
    monkeypatch.chdir(tmp_path)  # ad-hoc URLs download under ./data/downloads
    summary = run_ingest(engine, [url_a, url_b], settings=SETTINGS, source="wire")
    assert summary.ok
    assert counts(engine) == {"articles": 7, "duplicates": 0, "rejects": 0, "dumps_done": 2}
    with engine.connect() as conn:
        filed = dict(conn.execute(select(Dump.location, Dump.sha256)).all())
    assert filed == {url_a: hashlib.sha256(dump_a).hexdigest(), url_b: hashlib.sha256(dump_b).hexdigest()}
    engine.dispose()
    src = source(tmp_path)
    path_a, path_b = target_path(src, url_a), target_path(src, url_b)
    assert path_a != path_b and path_a.name.endswith("-today.jsonl")  # the extension still tells the format


def test_total_deadline_stops_a_dripping_server(http_server, tmp_path: Path) -> None:
    url = http_server.route("/d/drip.jsonl", Reply(body=DUMP, drip=0.2))
    src = source(tmp_path, url, read_timeout=2.0, total_timeout=0.5, retries=2)
    sleeps = Sleeps()
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"giving up after 3 attempts.*total_timeout \(0\.5 s\)"):
        fetch(src, url, sleep=sleeps)
    assert time.monotonic() - started < 4
    assert sleeps == [pytest.approx(0.01), pytest.approx(0.02)]  # backed off like a timeout
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]


def test_source_name_must_be_a_slug(tmp_path: Path) -> None:
    from etl.errors import ConfigError
    from etl.sources.config import load_sources

    config = tmp_path / "sources.toml"
    config.write_text(
        '[sources."../../../../outside"]\nkind = "http"\nurl = "http://127.0.0.1/x.jsonl"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"sources\.\.\./\.\./\.\./\.\./outside\]: a source name must be"):
        load_sources(config)
    for good in ("wire", "tass_daily", "feed-2.v1"):
        assert source(tmp_path, name=good).name == good


def test_downloads_never_leave_download_dir(http_server, tmp_path: Path) -> None:
    from etl.errors import ConfigError
    from etl.sources.http import target_path

    url = http_server.route("/d/wire.jsonl", Reply(body=DUMP))
    root = (tmp_path / "downloads").resolve()
    # A name that got past validation (defence in depth) is still confined.
    escaping = source(tmp_path, url)
    object.__setattr__(escaping, "name", "../../../../outside")
    with pytest.raises(ConfigError, match="outside download_dir"):
        fetch(escaping, url)
    assert not (tmp_path.parent / "outside").exists()
    # A URL path of '..' or odd characters stays a plain file name inside the source's folder.
    for odd in ("http://127.0.0.1/a/..", "http://127.0.0.1/%2e%2e/..%2f..%2fx.jsonl", "http://127.0.0.1/"):
        assert target_path(source(tmp_path, url), odd).parent == root / "wire"
    # A source folder that is a symbolic link to elsewhere is refused too.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir(parents=True, exist_ok=True)
    (root / "wire").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="outside download_dir"):
        fetch(source(tmp_path, url), url)
    assert list(elsewhere.iterdir()) == []


def test_overlapping_fetches_of_one_url_each_get_the_whole_dump(http_server, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = DUMP[:300]
    url = http_server.route("/d/busy.jsonl", Reply(body=body, drip=0.002))  # both in flight at once
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: fetch(source(tmp_path, url), url), range(2)))
    assert [o.status for o in outcomes] == ["fetched", "fetched"]
    assert [o.sha256 for o in outcomes] == [hashlib.sha256(body).hexdigest()] * 2
    assert outcomes[0].path.read_bytes() == body
    assert not list(outcomes[0].path.parent.glob("*.part"))
