"""Normalisation: cleaning, dates, rejects, and the JSONL fixture end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from etl.normalize import BadDate, normalize, normalize_all, parse_date
from etl.readers import read_dump
from etl.records import Article, RawRecord, Reject, RejectReason
from etl.text import content_hash, dedup_text

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def raw(**fields: object) -> RawRecord:
    return RawRecord("dump.jsonl#3", 3, "jsonl", dict(fields), raw='{"x": 1}')


def test_mixed_jsonl_end_to_end_counts_and_reasons():
    results = list(normalize_all(read_dump(FIXTURES / "crawl-mixed.jsonl"), "crawl"))
    articles = [r for r in results if isinstance(r, Article)]
    rejects = [r for r in results if isinstance(r, Reject)]
    assert len(results) == 8 and len(articles) == 2 and len(rejects) == 6
    assert [r.reason_code for r in rejects] == [
        RejectReason.MALFORMED,
        RejectReason.MALFORMED,
        RejectReason.UNDECODABLE,
        RejectReason.MISSING_BODY,
        RejectReason.BAD_DATE,
        RejectReason.BAD_DATE,
    ]
    missing_body, absurd, unparseable = rejects[3:]
    assert "'Headline without text'" in missing_body.reason
    assert "has no body text" in missing_body.reason
    assert "'1200-01-01' is before 1800-01-01" in absurd.reason
    assert "'last Tuesday afternoon' is not a recognised date format" in unparseable.reason
    assert unparseable.locator.endswith("#7") and unparseable.raw.startswith('{"title": "Sometime"')


def test_news_please_article_fields():
    first = next(normalize_all(read_dump(FIXTURES / "crawl-mixed.jsonl"), "crawl"))
    assert isinstance(first, Article)
    assert first.source == "crawl"
    assert first.title == "Tram depots to become libraries"
    assert first.published_at == datetime(2017, 7, 17, 17, 3, tzinfo=UTC)
    assert first.url == "https://example.org/news/tram-depots"
    assert first.language == "en"
    assert first.authors == ["Jane Doe", "Omar Haddad"]
    assert first.description == "Council approves conversion plan."
    assert first.body.count("\n\n") == 1
    assert first.content_hash == content_hash(dedup_text(first.body))
    assert first.section is None and first.topics == [] and first.dateline is None


def test_body_cleaning_keeps_paragraphs_and_collapses_blank_runs():
    article = normalize(
        raw(
            title="  A\u00a0title \n wrapped ",
            body="\r\n  First para.  \r\n\r\n\r\n\r\n\u00a0\r\nSecond.",
        ),
        "s",
        NOW,
    )
    assert article.title == "A title wrapped"
    assert article.body == "First para.\n\nSecond."


def test_missing_title_is_allowed_when_body_present():
    article = normalize(raw(body="Only a body."), "s", NOW)
    assert isinstance(article, Article) and article.title == ""


@pytest.mark.parametrize("body", [None, "", "  \n \u00a0 ", []])
def test_missing_body_rejected(body: object):
    reject = normalize(raw(title="Something", body=body), "s", NOW)
    assert isinstance(reject, Reject)
    assert reject.reason_code is RejectReason.MISSING_BODY
    assert reject.reason == "The article 'Something' at dump.jsonl#3 has no body text."
    assert reject.locator == "dump.jsonl#3" and reject.ordinal == 3 and reject.raw == '{"x": 1}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-01-25T14:44:00+03:00", datetime(2017, 1, 25, 11, 44, tzinfo=UTC)),
        ("2017-01-25 14:44:00+03:00", datetime(2017, 1, 25, 11, 44, tzinfo=UTC)),
        ("2017-01-25T14:44:00Z", datetime(2017, 1, 25, 14, 44, tzinfo=UTC)),
        ("2017-07-17 17:03:00", datetime(2017, 7, 17, 17, 3, tzinfo=UTC)),
        ("2017-07-17T17:03:00.250", datetime(2017, 7, 17, 17, 3, 0, 250000, tzinfo=UTC)),
        ("2017-07-17", datetime(2017, 7, 17, tzinfo=UTC)),
        ("Wed, 25 Jan 2017 14:44:00 +0300", datetime(2017, 1, 25, 11, 44, tzinfo=UTC)),
        ("Wed, 25 Jan 2017 14:44:00 GMT", datetime(2017, 1, 25, 14, 44, tzinfo=UTC)),
        ("  2017-07-17  ", datetime(2017, 7, 17, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_parse_date_formats(value: str | None, expected: datetime | None):
    parsed = parse_date(value, NOW)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1200-01-01", "'1200-01-01' is before 1800-01-01"),
        ("1799-12-31T23:59:59+00:00", "is before 1800-01-01"),
        ("2024-06-03T12:00:01Z", "more than 2 days in the future"),
        ("25/01/2017", "'25/01/2017' is not a recognised date format"),
        ("2017-02-30", "'2017-02-30' is not a recognised date format"),
        (1485345840, "1485345840 is not a date string"),
    ],
)
def test_bad_dates_rejected(value: object, message: str):
    with pytest.raises(BadDate, match=message):
        parse_date(value, NOW)
    reject = normalize(raw(title="T", body="B.", published=value), "s", NOW)
    assert reject.reason_code is RejectReason.BAD_DATE
    assert message in reject.reason and "dump.jsonl#3" in reject.reason


def test_two_days_ahead_is_still_accepted():
    assert parse_date("2024-06-03T12:00:00Z", NOW) == NOW + timedelta(days=2)


def test_optional_fields_stripped_and_blank_becomes_none():
    article = normalize(
        raw(
            title="T",
            body="Body.",
            url="  https://x.test/a  ",
            section=" ",
            lead="  Lead text ",
            dateline="MOSCOW, January 25. /TASS/.",
            dateline_place="MOSCOW",
            agency="TASS",
            language="",
            description=None,
            topics=[" Energy ", "", "Oil"],
            persons="Sergey Lavrov",
            authors=None,
            source_domain="x.test",
            published_precision="minute",
        ),
        "tass",
        NOW,
    )
    assert article.url == "https://x.test/a"
    assert article.section is None and article.language is None and article.description is None
    assert article.lead == "Lead text"
    assert (article.dateline, article.dateline_place, article.agency) == (
        "MOSCOW, January 25. /TASS/.",
        "MOSCOW",
        "TASS",
    )
    assert article.topics == ["Energy", "Oil"]
    assert article.persons == ["Sergey Lavrov"]
    assert article.authors == []


def test_dedup_text_and_hash_ignore_injected_headline():
    prose = (
        "The central bank kept its key rate unchanged on Friday, citing slowing inflation and "
        "a stable labour market, the regulator said in a statement."
    )
    a = normalize(raw(title="A", body=f"{prose}\n\nRelated headline one"), "s", NOW)
    b = normalize(raw(title="B", body=f"{prose}\n\nA different related headline"), "s", NOW)
    assert a.dedup_text == b.dedup_text == prose
    assert a.content_hash == b.content_hash
    assert a.body != b.body


def test_normalize_all_passes_rejects_through_in_order():
    reject = Reject("d#0", 0, RejectReason.MALFORMED, "bad line")
    results = list(normalize_all([reject, raw(title="T", body="Body.")], "s"))
    assert results[0] is reject
    assert isinstance(results[1], Article) and results[1].source == "s"


def test_tass_time_offset_converted_to_utc():
    record = next(read_dump(FIXTURES / "tass-wrapped-title.txt"))
    article = normalize(record, "tass", NOW)
    assert article.published_at == datetime(2019, 3, 4, 14, 15, tzinfo=UTC)
    assert article.published_at == datetime(2019, 3, 4, 9, 15, tzinfo=timezone(timedelta(hours=-5)))


# --- NUL bytes and other text Postgres cannot store ---------------------------------------


@pytest.mark.postgres
def test_nul_in_url_and_title_does_not_fail_the_dump_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """One record with NUL in url and title: it is one reject, every other record loads."""
    from sqlalchemy import func, select

    from etl.config import Settings
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine
    from etl.warehouse.models import ArticleRow, Dump, RejectRow
    from tests.conftest import news_record, story, write_jsonl

    records = [news_record(f"Story {i}", story(300 + i)) for i in range(4)]
    records[1]["url"] = "https://example.org/a\u0000b"
    records[1]["title"] = "Title\u0000with NUL"
    records[2]["authors"] = ["Ann\u0000 Smith"]
    records[2]["description"] = "desc\u0000ription"
    records[3]["date_publish"] = "2024-03-01\u0000"
    dump = write_jsonl(tmp_path / "nul.jsonl", records)
    engine = make_engine(pg_url)
    try:
        summary = run_ingest(engine, [str(dump)], settings=Settings(), source="wire")
        assert not summary.failures
        t = summary.totals
        assert (t.records, t.articles, t.rejects) == (4, 2, 2)
        with engine.connect() as conn:
            assert conn.execute(select(Dump.status)).scalar_one() == "done"
            stored = conn.execute(select(ArticleRow.title, ArticleRow.authors, ArticleRow.description)).all()
            reasons = conn.execute(select(RejectRow.reason).order_by(RejectRow.ordinal)).scalars().all()
            assert conn.execute(select(func.count()).select_from(RejectRow)).scalar_one() == 2
        assert sorted(r.title for r in stored) == ["Story 0", "Story 2"]
        assert ["Ann Smith"] in [r.authors for r in stored]
        assert "NUL" in reasons[0] and "url" in reasons[0]
    finally:
        engine.dispose()


def test_nul_is_removed_from_every_text_field_but_a_url_with_nul_is_rejected():
    article = normalize(
        raw(
            title="A\x00B",
            body="Body\x00 text.",
            section="Wor\x00ld",
            authors=["X\x00Y"],
            topics=["t\x00"],
            language="e\x00n",
            description="\x00d",
        ),
        "s",
        NOW,
    )
    assert isinstance(article, Article)
    assert (article.title, article.body, article.section) == ("AB", "Body text.", "World")
    assert (article.authors, article.topics, article.language, article.description) == (
        ["XY"],
        ["t"],
        "en",
        "d",
    )
    reject = normalize(raw(title="T", body="Body.", url="https://x.org/\x00"), "s", NOW)
    assert isinstance(reject, Reject) and reject.reason_code == RejectReason.MALFORMED
    assert "NUL" in reject.reason


def test_lone_surrogates_become_replacement_characters():
    article = normalize(raw(title="A\ud800", body="Body \udfff text."), "s", NOW)
    assert isinstance(article, Article)
    assert article.title == "A\ufffd" and article.body == "Body \ufffd text."
    reject = Reject("d#0", 0, RejectReason.MALFORMED, "bad \x00 value \ud800", "raw\x00\ud800")
    assert "\x00" not in reject.reason + reject.raw and "\ud800" not in reject.reason + reject.raw
