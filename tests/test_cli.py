"""The CLI end to end, as a user runs it: a subprocess, real files, real warehouses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from etl.warehouse.models import ArticleRow, Duplicate, RejectRow, Run

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "dumps"


def newsetl(*args: str, cwd: Path, prefect_home: Path, env: dict | None = None):
    full_env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": "",
        "NEWSETL_CONFIG": "",
        "NEWSETL_DATABASE_URL": "",
        "COLUMNS": "200",
        **(env or {}),
    }
    full_env = {k: v for k, v in full_env.items() if v != ""}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def table_counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = tuple(
            conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (ArticleRow, Duplicate, RejectRow)
        )
    engine.dispose()
    return counts


def summary_value(stdout: str, label: str) -> str:
    for line in stdout.splitlines():
        if label in line:
            return line.split("│")[2].strip()
    raise AssertionError(f"{label!r} not in output:\n{stdout}")


def test_help_lists_the_commands(tmp_path: Path, prefect_home: Path) -> None:
    out = newsetl("--help", cwd=tmp_path, prefect_home=prefect_home)
    assert out.returncode == 0
    for command in ("ingest", "db"):
        assert command in out.stdout
    ingest_help = newsetl("ingest", "--help", cwd=tmp_path, prefect_home=prefect_home)
    assert "--format" in ingest_help.stdout and "--db" in ingest_help.stdout


def test_missing_location_is_a_clear_error(tmp_path: Path, prefect_home: Path) -> None:
    out = newsetl(
        "ingest",
        "does-not-exist/",
        "--db",
        f"sqlite:///{tmp_path}/w.db",
        cwd=tmp_path,
        prefect_home=prefect_home,
    )
    assert out.returncode == 2
    assert "does-not-exist/: no such file, folder or matching glob" in out.stderr


def _ingest_samples_twice(url: str, tmp_path: Path, prefect_home: Path) -> None:
    first = newsetl("ingest", str(SAMPLES), "--db", url, cwd=tmp_path, prefect_home=prefect_home)
    assert first.returncode == 0, first.stderr
    articles, duplicates, rejects = table_counts(url)
    # samples/README.md: 35 records, 26 kept, 3 exact + 3 near duplicates, 3 rejects
    assert (articles, duplicates, rejects) == (26, 6, 3)
    assert summary_value(first.stdout, "records read") == "35"
    assert summary_value(first.stdout, "kept (new articles)") == "26"
    assert summary_value(first.stdout, "exact duplicates") == "3"
    assert summary_value(first.stdout, "near duplicates") == "3"
    assert summary_value(first.stdout, "rejected") == "3"

    second = newsetl("ingest", str(SAMPLES), "--db", url, cwd=tmp_path, prefect_home=prefect_home)
    assert second.returncode == 0, second.stderr
    assert summary_value(second.stdout, "records read") == "0"
    assert summary_value(second.stdout, "dumps already ingested") == "9"
    assert table_counts(url) == (articles, duplicates, rejects)


def test_cli_ingests_the_bundled_sample_into_sqlite(tmp_path: Path, prefect_home: Path) -> None:
    _ingest_samples_twice(f"sqlite:///{tmp_path / 'wh.db'}", tmp_path, prefect_home)


@pytest.mark.postgres
def test_cli_ingests_the_bundled_sample_into_postgres(
    pg_url: str, tmp_path: Path, prefect_home: Path
) -> None:
    _ingest_samples_twice(pg_url, tmp_path, prefect_home)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        runs = conn.execute(select(Run.status, Run.records)).all()
    engine.dispose()
    assert [r.status for r in runs] == ["completed", "completed"]


def test_default_warehouse_is_a_sqlite_file_under_data(tmp_path: Path, prefect_home: Path) -> None:
    seed = REPO / "tests" / "fixtures" / "tass-seed-article.txt"
    out = newsetl("ingest", str(seed), cwd=tmp_path, prefect_home=prefect_home)
    assert out.returncode == 0, out.stderr
    db = tmp_path / "data" / "warehouse.db"
    assert db.is_file()
    assert str(db) in out.stdout.replace("\n", "")
    assert table_counts(f"sqlite:///{db}") == (1, 0, 0)


def test_cli_ingests_a_url(http_server, tmp_path: Path, prefect_home: Path) -> None:
    import gzip

    from tests.httpserver import Reply

    dump = (REPO / "tests" / "fixtures" / "crawl-mixed.jsonl").read_bytes()
    url = http_server.route("/feeds/crawl.jsonl.gz", Reply(body=gzip.compress(dump)))
    db = f"sqlite:///{tmp_path / 'w.db'}"
    out = newsetl("ingest", url, "--db", db, cwd=tmp_path, prefect_home=prefect_home)
    assert out.returncode == 0, out.stderr
    assert summary_value(out.stdout, "records read") == "8"
    assert sum(table_counts(db)) == 8


def test_an_expected_fetch_failure_is_one_line_without_a_traceback(
    http_server, tmp_path: Path, prefect_home: Path
) -> None:
    from tests.httpserver import Reply

    url = http_server.route("/x.jsonl", Reply(status=500, body=b"down"))
    out = newsetl(
        "ingest", url, "--db", f"sqlite:///{tmp_path / 'w.db'}", cwd=tmp_path, prefect_home=prefect_home
    )

    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    # the retries say what they wait for, and the failure is said once
    assert out.stderr.count("giving up after 6 attempts; last: HTTP 500") == 1, out.stderr
    assert out.stderr.count("HTTP 500; retrying") == 5
