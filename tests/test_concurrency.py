"""Two ingests loading one Postgres warehouse at the same time never both keep a duplicate pair."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from etl.warehouse.models import Article, Duplicate
from tests.conftest import edit_words, news_record, story, write_jsonl

PAIRS = 60


def _ingest(url: str, dump: str, start_barrier) -> tuple[int, int]:
    from dataclasses import replace

    from etl.config import IngestConfig, Settings
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine

    settings = replace(Settings(), ingest=IngestConfig(batch_size=10, workers=0))
    engine = make_engine(url)
    start_barrier.wait(timeout=60)
    summary = run_ingest(engine, [dump], settings=settings, source="race")
    engine.dispose()
    return summary.totals.articles, summary.totals.duplicates


@pytest.mark.postgres
def test_concurrent_loads_keep_one_copy_of_each_story(pg_url: str, tmp_path: Path) -> None:
    from etl.config import Settings
    from etl.warehouse.db import make_engine
    from etl.warehouse.schema import prepare_warehouse

    # Schema first, so the two racers only race on data.
    engine = make_engine(pg_url)
    prepare_warehouse(engine, Settings().dedup)
    # Each story appears in both dumps: exactly once in A, lightly edited in B (and in
    # the opposite order), so without the dedup lock both loads would keep their copy.
    stories = [story(900 + i) for i in range(PAIRS)]
    dump_a = write_jsonl(tmp_path / "a.jsonl", [news_record(f"A{i}", s) for i, s in enumerate(stories)])
    dump_b = write_jsonl(
        tmp_path / "b.jsonl",
        [news_record(f"B{i}", edit_words(s, 2, seed=i)) for i, s in reversed(list(enumerate(stories)))],
    )

    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            runs = [pool.apply_async(_ingest, (pg_url, str(dump), barrier)) for dump in (dump_a, dump_b)]
            results = [r.get(timeout=240) for r in runs]

    assert sum(kept for kept, _ in results) == PAIRS
    assert sum(dups for _, dups in results) == PAIRS
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Article)).scalar_one() == PAIRS
        assert conn.execute(select(func.count()).select_from(Duplicate)).scalar_one() == PAIRS
        titles = conn.execute(select(Article.title)).scalars().all()
    # one copy of each story: either its A or its B version, never both
    assert sorted(int(t[1:]) for t in titles) == list(range(PAIRS))
    engine.dispose()
