"""Reuters-21578 SGML reader: fields, entities, Latin-1, re-flowed bodies, stories without BODY."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.readers.reuters import dateline_place, parse_date, read_reuters, reflow_body
from etl.records import Article, RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAMPLE = FIXTURES / "reuters-sample.sgm"


def records() -> list[RawRecord | Reject]:
    return list(read_dump(SAMPLE))


def test_counts_ordinals_and_locators():
    recs = records()
    assert [type(r) for r in recs] == [RawRecord] * 4
    assert [r.ordinal for r in recs] == [0, 1, 2, 3]
    assert [r.fields["newid"] for r in recs] == ["1", "2", "3", "4"]
    assert recs[0].locator == f"{SAMPLE}#0"
    assert all(r.format == "reuters" and r.fields["encoding"] == "latin-1" for r in recs)


def test_first_story_fields():
    f = records()[0].fields
    assert f["title"] == "ARGENTINE GRAIN BOARD FIGURES"
    assert f["published"] == "1987-02-26T15:01:01.790000+00:00"
    assert f["published_precision"] == "second"
    assert f["dateline"] == "BAHIA BLANCA, Argentina, Feb 26 -"
    assert f["dateline_place"] == "BAHIA BLANCA"
    assert f["agency"] == "Reuters"
    assert f["topics"] == ["grain", "wheat"]
    assert f["persons"] == []
    assert f["places"] == ["argentina"]
    assert f["url"] is None
    assert f["text_type"] == "NORM"


def test_body_is_reflowed_unescaped_and_unsigned():
    body = records()[0].fields["body"]
    assert body == (
        "Argentine grain board figures show crop registrations of grains, oilseeds and their "
        "products to February 11, in thousands of tonnes.\n\n"
        "Wheat prev 1,655.8, Feb 4 1,616.6, total 1,650.7.\n\n"
        "The board said shipments <to Brazil> rose & prices firmed."
    )
    assert "Reuter" not in body and "&#" not in body and "\x03" not in body


def test_control_entities_in_date_and_upper_case_signature():
    f = records()[1].fields
    # <DATE> 2-MAR-1987 09:15:00.00&#9;&#9;&#9;C T</DATE>
    assert f["published"] == "1987-03-02T09:15:00+00:00"
    assert f["persons"] == ["yeutter"]
    assert f["agency"] == "Reuters"  # " REUTER"
    assert f["body"].endswith("He declined to comment further on the talks.")


def test_latin1_byte_and_impossible_hour():
    assert b"\xfc" in SAMPLE.read_bytes()
    f = records()[3].fields
    assert f["body"].endswith("He spoke to reporters in Z\u00fcrich.")
    # "31-MAR-1987 605:12:19.12": the day is kept, the impossible time is not invented.
    assert f["published"] == "1987-03-31T00:00:00+00:00"
    assert f["published_precision"] == "day"


def test_story_without_body_is_rejected_by_normalize():
    recs = records()
    brief = recs[2]
    assert brief.fields["body"] == ""
    assert brief.fields["text_type"] == "BRIEF"
    assert brief.fields["title"] == "MONEY MARKET FUNDS ROSE IN LATEST WEEK"
    out = list(normalize_all(recs, "reuters"))
    assert [type(o) for o in out] == [Article, Article, Reject, Article]
    reject = out[2]
    assert reject.reason_code is RejectReason.MISSING_BODY
    assert "has no body text" in reject.reason and "MONEY MARKET FUNDS" in reject.reason
    assert out[0].published_at == datetime(1987, 2, 26, 15, 1, 1, 790000, tzinfo=UTC)
    assert out[0].dateline_place == "BAHIA BLANCA" and out[0].agency == "Reuters"


def test_truncated_file_keeps_complete_stories():
    data = SAMPLE.read_bytes()
    cut = data[: data.rindex(b"<BODY>")]
    recs = list(read_reuters(io.BytesIO(cut), "mem"))
    assert [type(r) for r in recs] == [RawRecord] * 3 + [Reject]
    assert recs[3].reason_code is RejectReason.MALFORMED
    assert "truncated" in recs[3].reason and 'NEWID="4"' in recs[3].reason


def test_stream_in_small_chunks(monkeypatch):
    import etl.readers.reuters as reuters

    monkeypatch.setattr(reuters, "CHUNK", 17)
    recs = list(read_reuters(io.BytesIO(SAMPLE.read_bytes()), "mem"))
    assert [r.fields["newid"] for r in recs] == ["1", "2", "3", "4"]
    assert recs[0].fields == records()[0].fields


def test_reflow_tables_and_signatures():
    text = "Shares rose\nsharply today.\n    Shr 1.19 dlrs vs 1.50\n    Net 3.2 mln vs 2.1\n REUTER...^M\n"
    assert reflow_body(text) == (
        "Shares rose sharply today.\n\nShr 1.19 dlrs vs 1.50\n\nNet 3.2 mln vs 2.1",
        True,
    )
    assert reflow_body("He said. REUTER") == ("He said.", True)
    assert reflow_body("Talks go on.\n More") == ("Talks go on.\n\nMore", False)
    # "Reuters" inside a sentence is no signature.
    assert reflow_body("He told Reuters") == ("He told Reuters", False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("26-FEB-1987 15:01:01.79", ("1987-02-26T15:01:01.790000+00:00", "second")),
        (
            " 9-APR-1987 00:00:00.00    # date added by S Finch as guesswork ",
            ("1987-04-09T00:00:00+00:00", "second"),
        ),
        ("9-MAR-1987  04:38:18.9", ("1987-03-09T04:38:18.900000+00:00", "second")),
        ("31-MAR-1987 605:12:19.12", ("1987-03-31T00:00:00+00:00", "day")),
        ("not a date", ("not a date", None)),
        (None, (None, None)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_dateline_place():
    assert dateline_place("BAHIA BLANCA, Argentina, Feb 26 -") == "BAHIA BLANCA"
    assert dateline_place("NEW YORK - ") == "NEW YORK"
    assert dateline_place(None) is None


def test_detect_format_by_extension_and_content():
    head = SAMPLE.read_bytes()[:4096]
    assert detect_format("reut2-000.sgm", head) == "reuters"
    assert detect_format("dump.bin", head) == "reuters"
    assert detect_format("dump.bin", b"<REUTERS NEWID='1'>") == "reuters"
