"""A folder of thousands of tiny dumps: every record loaded, file descriptors never pile up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from etl.config import Settings
from etl.runner import run_ingest
from etl.warehouse.db import make_engine
from etl.warehouse.models import ArticleRow
from tests.conftest import news_record, story, write_jsonl

FILES = 1000  # 3,000 took ~70 s (about 23 ms of ledger and load work per dump)
PROC_FD = Path("/proc/self/fd")


def open_fds() -> int:
    return len(os.listdir(PROC_FD))


@pytest.mark.skipif(not PROC_FD.is_dir(), reason="counts descriptors through /proc/self/fd")
def test_ingest_folder_of_many_small_files_keeps_descriptors_low(tmp_path: Path):
    folder = tmp_path / "inbox"
    for i in range(FILES):
        sub = folder / f"{i // 250:02}"  # a few subfolders, as dumps arrive by day
        sub.mkdir(parents=True, exist_ok=True)
        body = story(i, words=40)
        write_jsonl(sub / f"{i:05}.jsonl", [news_record(f"Story {i}", body, url=f"https://example.org/{i}")])

    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    samples: list[int] = []
    try:
        baseline = open_fds()
        summary = run_ingest(
            engine,
            [str(folder)],
            settings=Settings(),
            source="x",
            progress=lambda location, counts: samples.append(open_fds()),
        )
        with engine.connect() as conn:
            articles = conn.execute(select(func.count()).select_from(ArticleRow)).scalar_one()
    finally:
        engine.dispose()

    assert summary.ok, summary.failures
    assert summary.dumps_read == FILES
    totals = summary.totals
    assert totals.records == FILES and totals.rejects == 0
    assert totals.articles == FILES == articles
    assert len(samples) == FILES  # one batch per dump
    # Worker processes and the database add a fixed handful; one leaked descriptor
    # per dump would add thousands.
    assert max(samples) - baseline < 40, (baseline, max(samples))
    assert samples[-1] - samples[len(samples) // 10] < 10  # no growth over the run
