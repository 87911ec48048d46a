"""Progress output: a live bar on a terminal, periodic plain lines when piped, nothing with --quiet."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from etl.console_progress import BAR, LINES, QUIET, ConsoleProgress, choose_mode
from etl.counts import BatchCounts
from etl.dumps import DumpFile, DumpResult
from etl.progress import observer, observing, read_position

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "dumps"


def _dumps(tmp_path: Path) -> list[DumpFile]:
    out = []
    for name, size in (("a.jsonl", 3000), ("b.jsonl", 1000)):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        out.append(DumpFile(path=path, location=str(path)))
    return out


def _feed(shown: ConsoleProgress, dumps: list[DumpFile]) -> None:
    shown.dumps_planned(dumps)
    shown.batch_loaded(dumps[0].location, BatchCounts(records=2000, articles=1900, rejects=100))
    shown.batch_loaded(dumps[0].location, BatchCounts(records=3000, articles=2800, rejects=200))
    shown.dump_finished(DumpResult(dumps[0].location, "s", "jsonl", "loaded"))
    shown.batch_loaded(dumps[1].location, BatchCounts(records=500, articles=500))
    shown.dump_finished(DumpResult(dumps[1].location, "s", "jsonl", "loaded"))


def test_read_position_follows_an_open_file(tmp_path: Path) -> None:
    path = tmp_path / "dump.bin"
    path.write_bytes(b"y" * 10_000)
    assert read_position(path) is None  # not open
    with path.open("rb") as fh:
        fh.read(4096)
        assert read_position(path) == 4096


def test_plain_lines_count_dumps_records_and_time_left(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert choose_mode(console, quiet=False) == LINES  # not a terminal
    with ConsoleProgress(console, LINES, interval=0) as shown:
        _feed(shown, _dumps(tmp_path))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("starting Prefect")
    assert re.match(r"Prefect ready after \d+\.\d s", lines[1])
    assert any(
        re.match(r"ingest: 1/2 dumps, 3,000 records, [\d,]+ records/s, 75 %, .* left", x) for x in lines
    )
    assert re.match(r"ingest: 2/2 dumps, 3,500 records, [\d,]+ records/s, done in", lines[-1])


def test_plain_lines_are_periodic_not_one_per_batch(tmp_path: Path) -> None:
    out = io.StringIO()
    with ConsoleProgress(Console(file=out, width=200), LINES, interval=3600) as shown:
        _feed(shown, _dumps(tmp_path))
    # start, ready, the plan, and the last line: no line per batch or per dump
    assert len(out.getvalue().splitlines()) == 4


def test_terminal_bar_and_quiet(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True)
    assert choose_mode(console, quiet=False) == BAR and choose_mode(console, quiet=True) == QUIET
    with ConsoleProgress(console, BAR) as shown:
        shown.waiting("waiting for Prefect: Starting temporary server")
        _feed(shown, _dumps(tmp_path))
    text = out.getvalue()
    assert "━" in text and "2/2 dumps, 3,500 records" in text and "records/s" in text

    quiet = io.StringIO()
    with ConsoleProgress(Console(file=quiet, force_terminal=True), QUIET) as shown:
        _feed(shown, _dumps(tmp_path))
    assert quiet.getvalue() == ""


def test_backfill_progress_counts_days(tmp_path: Path) -> None:
    out = io.StringIO()
    with ConsoleProgress(Console(file=out, width=200), LINES, interval=0, what="backfill") as shown:
        shown.partitions_planned(3)
        shown.partition_finished("2024-03-01", "done")
        shown.partition_finished("2024-03-02", "empty")
    assert "backfill: 2/3 days" in out.getvalue()
    assert "backfill: 2/3 days" in out.getvalue().splitlines()[-1]


def test_observer_is_a_noop_unless_installed(tmp_path: Path) -> None:
    shown = ConsoleProgress(Console(file=io.StringIO()), QUIET)
    assert type(observer()).__name__ == "ProgressObserver"
    with observing(shown):
        assert observer() is shown
    assert observer() is not shown


# --- the CLI, as a person runs it -------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


def _env(prefect_home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "COLUMNS": "160",
        "NEWSETL_PROGRESS_INTERVAL": "0",
    }
    for key in ("PREFECT_API_URL", "NEWSETL_CONFIG", "NEWSETL_DATABASE_URL"):
        env.pop(key, None)
    return env


def test_ingest_piped_prints_plain_lines_and_quiet_prints_none(tmp_path: Path, prefect_home: Path) -> None:
    db = f"sqlite:///{tmp_path}/w.db"
    cmd = [sys.executable, "-m", "flows.cli", "ingest", str(SAMPLES), "--db", db]
    env = {**_env(prefect_home), "NEWSETL_REPORT": str(tmp_path / "report.html")}
    piped = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    err = piped.stderr.splitlines()
    assert err[0].startswith("starting Prefect")
    assert any(line.startswith("Prefect ready after") for line in err)
    assert re.search(r"^ingest: 9/9 dumps, 35 records, [\d,]+ records/s, done in", piped.stderr, re.M)
    assert "━" not in piped.stderr and "\x1b[" not in piped.stderr  # no bar, no escape codes
    assert " records (" not in piped.stderr  # Prefect's per-batch INFO lines are replaced
    assert "records read" in piped.stdout  # the summary is unchanged
    assert (tmp_path / "report.html").exists()  # the flow wrote the report

    quiet = subprocess.run(
        [sys.executable, "-m", "flows.cli", "--quiet", *cmd[3:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "Prefect" not in quiet.stderr and "dumps" not in quiet.stderr
    assert "dumps already ingested (skipped) │ 9" in quiet.stdout


@pytest.mark.skipif(not shutil.which("script"), reason="needs script(1) for a pseudo-terminal")
def test_ingest_on_a_terminal_draws_a_progress_bar(tmp_path: Path, prefect_home: Path) -> None:
    db = f"sqlite:///{tmp_path}/w.db"
    inner = shlex.join([sys.executable, "-m", "flows.cli", "ingest", str(SAMPLES), "--db", db])
    env = {**_env(prefect_home), "NEWSETL_REPORT": str(tmp_path / "report.html"), "TERM": "xterm"}
    res = subprocess.run(
        ["script", "-qfec", inner, str(tmp_path / "typescript")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    screen = (tmp_path / "typescript").read_text(encoding="utf-8", errors="replace")
    assert res.returncode == 0, screen[-3000:]
    assert "━" in screen  # the bar
    assert re.search(r"ingest .*9/9 dumps, 35 records, [\d,]+ records/s", screen)
    assert "starting Prefect" in screen or "importing Prefect" in screen  # the spinner's text
    assert "kept (new articles)" in screen
