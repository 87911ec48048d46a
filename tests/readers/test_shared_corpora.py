"""The readers on the real corpora in ../shared/corpora (skipped when the folder is absent)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from etl.config import Settings
from etl.normalize import normalize_all
from etl.readers import read_dump
from etl.records import Article, Reject, RejectReason

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
TASS_SCRAPER = CORPORA / "tass-scraper" / "politics_20.json"
FAKENEWS = CORPORA / "fakenewscorpus" / "news_sample.csv"
REUTERS = CORPORA / "reuters21578"

pytestmark = pytest.mark.skipif(
    not CORPORA.is_dir(), reason=f"shared corpora folder {CORPORA} is absent (see its README)"
)


def test_tass_scraper_articles_normalise():
    out = list(normalize_all(read_dump(TASS_SCRAPER), "tass-scraper"))
    assert len(out) == 20
    assert all(isinstance(o, Article) for o in out), [o.reason for o in out if isinstance(o, Reject)]
    assert all(o.title and o.body and o.url.startswith("https://tass.com/") for o in out)
    assert all(o.published_at is not None for o in out)
    # content[0] repeats the description; it is not the first body paragraph.
    assert all(not o.body.startswith(o.description) for o in out if o.description)


def test_fakenewscorpus_sample_reads_250_rows():
    records = list(read_dump(FAKENEWS))
    out = list(normalize_all(records, "fakenewscorpus"))
    articles = [o for o in out if isinstance(o, Article)]
    rejects = [o for o in out if isinstance(o, Reject)]
    assert len(records) == 250
    assert len(articles) + len(rejects) == 250
    assert all(a.title and a.body and a.url for a in articles)


def test_whole_reuters_corpus_into_postgres(pg_url):
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine
    from etl.warehouse.models import RejectRow, Run

    # The folder also holds the corpus README, DTD and category lists; only the stories are ingested.
    stories = str(REUTERS / "reut2-*.sgm")
    engine = make_engine(pg_url)
    try:
        started = time.perf_counter()
        summary = run_ingest(engine, [stories], settings=Settings(), source="reuters")
        elapsed = time.perf_counter() - started
        totals = summary.totals
        assert summary.ok, summary.failures
        assert len(summary.dumps) == 22
        assert totals.records == 21578
        assert totals.articles + totals.exact_duplicates + totals.near_duplicates == 19043
        assert totals.rejects == 2535
        with engine.connect() as conn:
            run = conn.execute(select(Run.__table__).where(Run.id == summary.run_id)).one()
            reasons = conn.execute(select(RejectRow.reason_code, RejectRow.reason)).all()
        assert run.status == "completed"
        assert run.records == 21578
        assert run.articles == totals.articles
        assert run.exact_duplicates == totals.exact_duplicates
        assert run.near_duplicates == totals.near_duplicates
        assert run.articles + run.exact_duplicates + run.near_duplicates == 19043
        assert run.rejects == 2535
        assert len(reasons) == 2535
        assert all(code == RejectReason.MISSING_BODY for code, _ in reasons)
        assert all("has no body text" in reason for _, reason in reasons)
        print(
            f"\nReuters-21578: {totals.articles} articles, {totals.exact_duplicates} exact and "
            f"{totals.near_duplicates} near duplicates, {totals.rejects} rejects in {elapsed:.1f} s"
        )
    finally:
        engine.dispose()
