"""What an operator sees at a terminal: mistakes caught at once, tables that read at 80 columns."""

from __future__ import annotations

import socket
import time
from datetime import date
from pathlib import Path

from sqlalchemy import insert

from etl.warehouse.db import make_engine
from etl.warehouse.migrate import upgrade
from etl.warehouse.models import Partition
from tests.test_cli import SAMPLES, newsetl


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_keeps_bracketed_words(tmp_path: Path, prefect_home: Path) -> None:
    out = newsetl("ingest", "--help", cwd=tmp_path, prefect_home=prefect_home)
    text = " ".join(out.stdout.split())
    assert "[sources.NAME]" in text
    assert "[warehouse] url" in text
    top = newsetl("--help", cwd=tmp_path, prefect_home=prefect_home)
    assert "[sources.*]" in " ".join(top.stdout.split())


def test_an_unreachable_warehouse_is_one_line_and_exit_2_before_prefect(
    tmp_path: Path, prefect_home: Path
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/news"
    started = time.monotonic()
    out = newsetl("ingest", str(SAMPLES), "--db", url, cwd=tmp_path, prefect_home=prefect_home)
    elapsed = time.monotonic() - started
    assert out.returncode == 2
    assert elapsed < 10, f"took {elapsed:.1f} s: the check must come before Prefect's start-up"
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "cannot reach the warehouse" in lines[0]
    assert "starting Prefect" not in out.stderr


def test_wrong_url_schemes_are_one_line_without_traceback(tmp_path: Path, prefect_home: Path) -> None:
    for url, words in (
        ("postgres://postgres@127.0.0.1/news", "postgresql+psycopg://"),
        ("mysql://root@127.0.0.1/news", "unsupported warehouse"),
    ):
        out = newsetl("ingest", str(SAMPLES), "--db", url, cwd=tmp_path, prefect_home=prefect_home)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert words in out.stderr
        assert len([x for x in out.stderr.splitlines() if x.strip()]) == 1, out.stderr


def test_changed_dedup_settings_are_refused_before_prefect(tmp_path: Path, prefect_home: Path) -> None:
    db = f"sqlite:///{tmp_path / 'wh.db'}"
    seed = Path(__file__).parent / "fixtures" / "tass-seed-article.txt"
    first = newsetl("ingest", str(seed), "--db", db, cwd=tmp_path, prefect_home=prefect_home)
    assert first.returncode == 0, first.stderr
    config = tmp_path / "changed.toml"
    config.write_text("[dedup]\nbands = 16\nrows = 8\n", encoding="utf-8")
    out = newsetl(
        "--config", str(config), "ingest", str(seed), "--db", db, cwd=tmp_path, prefect_home=prefect_home
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "starting Prefect" not in out.stderr
    assert "reindex" in out.stderr


def test_read_commands_neither_create_nor_migrate(tmp_path: Path, prefect_home: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    for command in (("status",), ("runs",), ("explain", "1"), ("db", "current")):
        out = newsetl(*command, "--db", f"sqlite:///{missing}", cwd=tmp_path, prefect_home=prefect_home)
        assert out.returncode == 2, (command, out.stderr)
        assert "no warehouse at" in out.stderr
        assert not missing.exists(), command


def test_status_reads_whole_at_80_columns_when_piped(tmp_path: Path, prefect_home: Path) -> None:
    db = tmp_path / "wh.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Partition),
            [
                {
                    "source": "tass_hourly_english",
                    "day": date(2024, 11, d),
                    "status": "failed" if d == 3 else "done",
                    "attempts": 2,
                    "records": 12345,
                    "articles": 12000,
                    "exact_duplicates": 100,
                    "near_duplicates": 200,
                    "rejects": 45,
                    "note": "http://127.0.0.1/x.jsonl: giving up after 6 attempts; last: HTTP 503"
                    if d == 3
                    else None,
                }
                for d in (1, 2, 3)
            ],
        )
    engine.dispose()
    out = newsetl(
        "status", "--db", f"sqlite:///{db}", cwd=tmp_path, prefect_home=prefect_home, env={"COLUMNS": "80"}
    )
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    for d in ("2024-11-01", "2024-11-02", "2024-11-03"):
        assert d in out.stdout
    assert out.stdout.count("tass_hourly_english") == 3 + 1  # three rows and the note of the failed day
    assert "…" not in out.stdout
    assert "HTTP 503" in " ".join(out.stdout.split())


def test_serve_without_a_prefect_server_says_so(tmp_path: Path, prefect_home: Path) -> None:
    out = newsetl("serve", cwd=tmp_path, prefect_home=prefect_home)
    assert out.returncode == 2
    assert "PREFECT_API_URL" in out.stderr and "prefect server start" in out.stderr
    assert "serving" not in out.stdout


def test_runs_reads_whole_at_80_columns_when_piped(tmp_path: Path, prefect_home: Path) -> None:
    from sqlalchemy import update

    from etl.warehouse import ledger
    from etl.warehouse.models import Run

    db = tmp_path / "wh.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    for i, kind in enumerate(("backfill", "ingest")):
        run_id = f"{i}0000000-aaaa-bbbb-cccc-dddddddddddd"
        ledger.start_run(engine, run_id, kind, {})
        ledger.finish_run(engine, run_id, ledger.COMPLETED, dumps_read=3, dumps_skipped=0)
        with engine.begin() as conn:
            conn.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    records=123456,
                    articles=100000,
                    exact_duplicates=12345,
                    near_duplicates=11000,
                    rejects=111,
                )
            )
    engine.dispose()
    out = newsetl(
        "runs", "--db", f"sqlite:///{db}", cwd=tmp_path, prefect_home=prefect_home, env={"COLUMNS": "80"}
    )
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert "…" not in out.stdout
    assert "backfill" in out.stdout and "123456" in out.stdout
    assert "23345" in out.stdout  # exact and near duplicates, one column
