"""The bundled samples hold exactly what samples/README.md promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from etl.normalize import normalize_all
from etl.readers import read_dump
from etl.records import Article, Reject, RejectReason
from etl.text import words

SAMPLES = Path(__file__).parent.parent / "samples" / "dumps"
SHINGLE = 5


def load(paths: list[Path], source: str) -> tuple[list[Article], list[Reject]]:
    results = [r for p in paths for r in normalize_all(read_dump(p), source)]
    return [r for r in results if isinstance(r, Article)], [r for r in results if isinstance(r, Reject)]


def jaccard(a: str, b: str) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        w = words(text)
        return {tuple(w[i : i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}

    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def near_pairs(articles: list[Article], threshold: float = 0.7) -> list[tuple[str, str]]:
    pairs = []
    for i, a in enumerate(articles):
        for b in articles[i + 1 :]:
            if a.content_hash != b.content_hash and jaccard(a.dedup_text, b.dedup_text) >= threshold:
                pairs.append((a.locator.rsplit("/", 1)[-1], b.locator.rsplit("/", 1)[-1]))
    return pairs


def exact_duplicates(articles: list[Article]) -> int:
    return sum(n - 1 for n in Counter(a.content_hash for a in articles).values())


@pytest.fixture(scope="module")
def tass() -> tuple[list[Article], list[Reject]]:
    return load(sorted((SAMPLES / "tass").glob("*.txt")), "tass")


@pytest.fixture(scope="module")
def crawl() -> tuple[list[Article], list[Reject]]:
    return load([SAMPLES / "crawler" / "crawl.jsonl"], "crawl")


def test_tass_sample_counts(tass):
    articles, rejects = tass
    assert (len(articles), len(rejects)) == (10, 0)
    assert exact_duplicates(articles) == 1
    assert near_pairs(articles) == [
        ("2017-01-25-1-lavrov-syria.txt#0", "2017-01-25-3-lavrov-syria-updated.txt#0"),
        ("2017-01-25-2-lavrov-syria-resent.txt#0", "2017-01-25-3-lavrov-syria-updated.txt#0"),
    ]


def test_crawl_sample_counts(crawl):
    articles, rejects = crawl
    assert (len(articles), len(rejects)) == (22, 3)
    assert [r.reason_code for r in rejects] == [
        RejectReason.MALFORMED,
        RejectReason.MISSING_BODY,
        RejectReason.BAD_DATE,
    ]
    assert exact_duplicates(articles) == 2
    assert near_pairs(articles) == [
        ("crawl.jsonl#14", "crawl.jsonl#20"),
        ("crawl.jsonl#15", "crawl.jsonl#24"),
    ]
    assert all(120 <= len(a.dedup_text.split()) <= 300 for a in articles)


def test_samples_are_small():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 150_000
