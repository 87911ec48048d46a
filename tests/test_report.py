"""``newsetl report``: the figures (SQL on both backends), the page's content, and the page in a browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pytest

from etl.config import load_settings
from etl.report import render_html, render_markdown, write_html
from etl.runner import run_ingest
from etl.warehouse import ledger, partitions
from etl.warehouse.db import make_engine
from etl.warehouse.report import collect, dump_detail
from tests.conftest import FIXTURES, edit_words, news_record, story, write_jsonl

REPO = Path(__file__).resolve().parents[1]
RUN_ID = "00000000-0000-4000-8000-000000000001"


def build_warehouse(url: str, root: Path):
    """A warehouse with every kind of row: kept, exact and near duplicates of each relation,
    rejects of two reasons, two sources, and partitions done, empty and failed."""
    wire = root / "wire"
    wire.mkdir()
    a, b, c = story(1), story(2), story(3)
    excerpt = " ".join(c.split(" ")[: int(len(c.split(" ")) * 0.6)]) + "."
    dump = write_jsonl(
        wire / "2024-03-01.jsonl",
        [
            news_record("Harbour bridge closes for repairs", a, day=1),
            news_record("Harbour bridge closes (copy)", a, day=1, url="https://example.org/copy"),
            news_record("Council votes on budget", b, day=2),
            news_record("Council votes on budget, edited", edit_words(b, 3), day=2, url="https://e.org/ed"),
            news_record("Storm floods the valley", c, day=3),
            news_record("Storm floods (brief)", excerpt, day=3, url="https://example.org/brief"),
            {**news_record("Photo gallery", "", day=3), "maintext": ""},
        ],
    )
    with dump.open("a", encoding="utf-8") as fh:
        fh.write('{"title": "cut off\n')
    tass = root / "tass"
    tass.mkdir()
    shutil.copy(FIXTURES / "tass-seed-article.txt", tass / "seed.txt")
    engine = make_engine(url)
    summary = run_ingest(engine, [str(wire), str(tass)], settings=load_settings(None), run_id=RUN_ID)
    partitions.mark_running(engine, "wire", date(2024, 3, 1), RUN_ID)
    partitions.mark_finished(engine, "wire", date(2024, 3, 1), partitions.DONE, records=8, articles=3)
    for other, status in (("r2", ledger.COMPLETED), ("r3", ledger.RUN_FAILED)):  # a partition names a run
        ledger.start_run(engine, other, "ingest", {"source": "wire"})
        ledger.finish_run(engine, other, status, dumps_read=0, dumps_skipped=0)
    partitions.mark_running(engine, "wire", date(2024, 3, 2), "r2")
    partitions.mark_finished(
        engine, "wire", date(2024, 3, 2), partitions.EMPTY, note="no dump for 2024-03-02"
    )
    partitions.mark_running(engine, "wire", date(2024, 3, 4), "r3")
    partitions.mark_finished(
        engine, "wire", date(2024, 3, 4), partitions.FAILED, note="HTTP 503 from example.org after 5 tries"
    )
    return engine, summary


@pytest.fixture
def warehouse(db_url: str, tmp_path: Path):
    engine, summary = build_warehouse(db_url, tmp_path)
    yield engine, summary
    engine.dispose()


def test_report_figures_count_every_kind_of_row(warehouse) -> None:
    engine, summary = warehouse
    t = summary.totals
    data = collect(engine)

    assert data.totals == {"read": 9, "kept": 4, "exact": 1, "near": 2, "rejects": 2}
    assert (t.records, t.articles, t.exact_duplicates, t.near_duplicates, t.rejects) == (9, 4, 1, 2, 2)
    by_source = {s["source"]: s for s in data.per_source}
    assert by_source["wire"] == {"source": "wire", "read": 8, "kept": 3, "exact": 1, "near": 2, "rejects": 2}
    assert by_source["tass"]["kept"] == 1
    # per day: publication days; the rejects on the day of the partition their run loaded
    wire_days = {r["day"]: r for r in data.daily if r["source"] == "wire"}
    assert wire_days["2024-03-01"]["kept"] == 1 and wire_days["2024-03-01"]["exact"] == 1
    assert wire_days["2024-03-01"]["rejects"] == 2
    assert wire_days["2024-03-02"]["near"] == 1 and wire_days["2024-03-03"]["near"] == 1
    assert {(r["relation"], r["method"]): r["count"] for r in data.relations} == {
        ("copy", "exact"): 1,
        ("revision", "near"): 1,
        ("excerpt", "near"): 1,
    }
    assert sum(r["count"] for r in data.similarity) == 2
    assert all(0 <= r["low"] < r["high"] <= 1 for r in data.similarity)
    assert {r["reason_code"] for r in data.reject_reasons} == {"missing_body", "malformed"}
    assert {c["title"] for c in data.clusters} == {
        "Harbour bridge closes for repairs",
        "Council votes on budget",
        "Storm floods the valley",
    }
    runs = [(r["records"], r["status"]) for r in data.runs]
    assert runs == [(9, "completed"), (0, "completed"), (0, "failed")]
    assert data.runs[0]["seconds"] >= 0 and data.runs[0]["rate"] > 0
    assert {(p["day"], p["status"]) for p in data.partitions} == {
        ("2024-03-01", "done"),
        ("2024-03-02", "empty"),
        ("2024-03-04", "failed"),
    }

    only_tass = collect(engine, source="tass")
    assert only_tass.totals == {"read": 1, "kept": 1, "exact": 0, "near": 0, "rejects": 0}
    assert not only_tass.partitions and not only_tass.reject_reasons
    late = collect(engine, since=date(2024, 3, 2))
    assert late.totals == {"read": 4, "kept": 2, "exact": 0, "near": 2, "rejects": 0}
    assert {p["day"] for p in late.partitions} == {"2024-03-02", "2024-03-04"}


def test_report_page_shows_every_section_and_needs_no_network(warehouse) -> None:
    engine, _ = warehouse
    page = render_html(collect(engine))

    for text in (
        "Totals",
        "Records per day and source",
        "Near-duplicate similarity by measure",
        "Duplicates by relation",
        "Reject reasons",
        "Runs over time",
        "Largest clusters",
        "Partition ledger",
        "Harbour bridge closes for repairs",
        "missing_body",
        "HTTP 503 from example.org after 5 tries",
        "newsetl explain",
    ):
        assert text in page, text
    # one inlined plotly.js for all charts, nothing fetched
    assert page.count("<script type='text/javascript'>") == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page)
    # per day, similarity, relations, rejects, runs, clusters, one partition calendar per source
    assert page.count('class="plotly-graph-div"') == 7
    md = render_markdown(collect(engine))
    assert "| wire | 8 | 3 | 1 | 2 | 2 |" in md and "HTTP 503" in md


def test_dump_detail_lists_a_dumps_rejects_and_duplicates(warehouse) -> None:
    engine, summary = warehouse
    wire = next(d for d in summary.dumps if d.source == "wire")
    detail = dump_detail(engine, wire.dump_id)
    assert (detail.reject_count, detail.duplicate_count) == (2, 3)
    assert {r["reason_code"] for r in detail.rejects} == {"missing_body", "malformed"}
    assert {d["relation"] for d in detail.duplicates} == {"copy", "revision", "excerpt"}
    assert dump_detail(engine, 10_000) is None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NEWSETL_CONFIG", "NEWSETL_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_command_writes_the_page(sqlite_url: str, tmp_path: Path) -> None:
    build_warehouse(sqlite_url, tmp_path).__getitem__(0).dispose()
    out = tmp_path / "out" / "report.html"
    res = _cli("report", "--db", sqlite_url, "--out", str(out), "--source", "wire", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "8 records read, 3 kept, 1 exact and 2 near duplicates, 2 rejects" in " ".join(res.stdout.split())
    assert "source wire" in out.read_text(encoding="utf-8")
    bad = _cli("report", "--db", sqlite_url, "--since", "March", cwd=tmp_path)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    dump = _cli("explain", "dump:1", "--db", sqlite_url, cwd=tmp_path)
    assert dump.returncode == 0 and "missing_body" in dump.stdout and "excerpt" in dump.stdout


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not CHROMIUM and os.environ.get("CI", "").lower() != "true",
    reason="Debian package chromium not installed (.ci/run installs it)",
)
def test_report_draws_in_headless_chromium(sqlite_url: str, tmp_path: Path) -> None:
    """The page opened from disk, offline: every chart drew marks, and the console stayed silent."""
    assert CHROMIUM, "chromium is missing"
    engine, _ = build_warehouse(sqlite_url, tmp_path)
    page = write_html(collect(engine), tmp_path / "report.html")
    engine.dispose()
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=5000",
                "--window-size=1400,2000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    dom = res.stdout
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    plots = re.findall(r'<div id="[^"]+" class="plotly-graph-div js-plotly-plot"', dom)
    assert len(plots) == 7, "every chart was drawn by plotly.js"
    assert dom.count('class="main-svg"') >= 2 * len(plots)
    assert dom.count('class="trace bars"') >= 6  # per-day, similarity, relations, rejects, runs, clusters
    assert 'class="hm"' in dom  # the partition calendar's heatmap
    assert "HTTP 503 from example.org" in dom
