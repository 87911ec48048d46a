"""Two ingests loading one Postgres warehouse at the same time never both keep a duplicate pair."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from etl.warehouse.models import ArticleRow, Duplicate
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
        assert conn.execute(select(func.count()).select_from(ArticleRow)).scalar_one() == PAIRS
        assert conn.execute(select(func.count()).select_from(Duplicate)).scalar_one() == PAIRS
        titles = conn.execute(select(ArticleRow.title)).scalars().all()
    # one copy of each story: either its A or its B version, never both
    assert sorted(int(t[1:]) for t in titles) == list(range(PAIRS))
    engine.dispose()


def _ingest_many(url: str, dumps: list[str], start_barrier) -> int:
    from dataclasses import replace

    from etl.config import IngestConfig, Settings
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine

    settings = replace(Settings(), ingest=IngestConfig(batch_size=7, workers=0))
    engine = make_engine(url)
    start_barrier.wait(timeout=60)
    summary = run_ingest(engine, dumps, settings=settings, source="race")
    engine.dispose()
    assert summary.ok, summary.failures
    return summary.totals.records


@pytest.mark.postgres
def test_three_concurrent_ingests_of_overlapping_dumps_load_each_record_once(
    pg_url: str, tmp_path: Path
) -> None:
    import json

    from sqlalchemy import text

    from etl.config import Settings
    from etl.warehouse.db import make_engine
    from etl.warehouse.models import Dump, RejectRow, Run
    from etl.warehouse.schema import prepare_warehouse

    engine = make_engine(pg_url)
    prepare_warehouse(engine, Settings().dedup)
    stories = [story(2000 + i) for i in range(45)]
    # A: 40 originals; B: each lightly edited, in the opposite order; C: every other one
    # edited another way, five new stories and a broken line. Every dump is given to two
    # of the three racers, so each is loaded twice at the same time.
    a = write_jsonl(tmp_path / "a.jsonl", [news_record(f"A{i}", stories[i]) for i in range(40)])
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [news_record(f"B{i}", edit_words(stories[i], 2, seed=i)) for i in reversed(range(40))],
    )
    c = tmp_path / "c.jsonl"
    c.write_text(
        "".join(
            json.dumps(news_record(f"C{i}", edit_words(stories[i], 3, seed=100 + i))) + "\n"
            for i in range(0, 40, 2)
        )
        + "".join(json.dumps(news_record(f"N{i}", stories[i])) + "\n" for i in range(40, 45))
        + "{broken\n",
        encoding="utf-8",
    )
    lines = {str(a): 40, str(b): 40, str(c): 26}
    racers = [[str(a), str(c)], [str(b), str(a)], [str(c), str(b)]]

    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(3)
        with ctx.Pool(3) as pool:
            runs = [pool.apply_async(_ingest_many, (pg_url, dumps, barrier)) for dumps in racers]
            records = [r.get(timeout=300) for r in runs]

    # counts add up: the three runs together read each distinct record once
    assert sum(records) == sum(lines.values())
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(Run.records))).scalar_one() == sum(lines.values())
        assert (
            conn.execute(select(func.count()).select_from(Run).where(Run.status == "completed")).scalar() == 3
        )
        # every record ends exactly once, in one of the three tables
        per_dump = dict(
            conn.execute(
                text(
                    "SELECT d.location, count(*) FROM dumps d JOIN ("
                    " SELECT dump_id, ordinal FROM articles UNION ALL"
                    " SELECT dump_id, ordinal FROM duplicates UNION ALL"
                    " SELECT dump_id, ordinal FROM rejects) r ON r.dump_id = d.id"
                    " GROUP BY d.location"
                )
            ).all()
        )
        assert per_dump == lines
        assert conn.execute(select(func.count()).select_from(RejectRow)).scalar_one() == 1
        assert set(conn.execute(select(Dump.status)).scalars()) == {"done"}
        titles = conn.execute(select(ArticleRow.title)).scalars().all()
    # no near-duplicate pair both kept: each of the 45 stories once, in one version
    assert sorted(int(t[1:]) for t in titles) == list(range(45))
    engine.dispose()
