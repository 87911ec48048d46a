"""CSV reader: all-the-news v1 and 2.1, FakeNewsCorpus, bad rows, big fields, encodings."""

from __future__ import annotations

import io
from pathlib import Path

from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.readers.csv_dump import read_csv
from etl.records import Article, RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
ATN_V1 = FIXTURES / "all-the-news-v1.csv"
ATN_21 = FIXTURES / "all-the-news-2_1.csv"
FAKENEWS = FIXTURES / "fakenews-sample.csv"
FAKENEWS_HEADER = (
    ",id,domain,type,url,content,scraped_at,inserted_at,updated_at,title,authors,keywords,"
    "meta_keywords,meta_description,tags,summary\n"
)


def read_bytes(data: bytes) -> list[RawRecord | Reject]:
    return list(read_csv(io.BytesIO(data), "mem"))


def test_all_the_news_v1():
    recs = list(read_dump(ATN_V1))
    assert [type(r) for r in recs] == [RawRecord, RawRecord, RawRecord, Reject]
    f = recs[0].fields
    assert recs[0].format == "csv"
    assert f["title"] == "House Republicans Fret About Winning Their Health Care Suit"
    assert f["body"].startswith("WASHINGTON — Congressional Republicans have a new fear")
    assert "\n\nThe incoming Trump administration" in f["body"].replace("\r\n", "\n")
    assert f["published"] == "2016-12-31"
    assert f["authors"] == ["Carl Hulse"]
    assert recs[1].fields["authors"] == ["Benjamin Mueller and Al Baker"]  # one byline, not split
    assert f["url"] is None  # empty column
    # Row 3 has no content: read, then rejected by normalisation.
    assert recs[2].fields["body"] is None
    # Row 4 is short (its first row spans lines 2-4, so this one is on line 7).
    assert recs[3].reason_code is RejectReason.MALFORMED
    assert recs[3].reason == (
        f"The CSV row starting at line 7 of {ATN_V1} was skipped: it has 5 field(s) where the header has 10."
    )
    out = list(normalize_all(recs, "atn"))
    assert [type(o) for o in out] == [Article, Article, Reject, Reject]
    assert out[2].reason_code is RejectReason.MISSING_BODY


def test_all_the_news_2_1():
    recs = list(read_dump(ATN_21))
    assert [type(r) for r in recs] == [RawRecord] * 3
    f = recs[0].fields
    assert f["title"] == "We should take concerns about the health of liberal democracy seriously"
    assert f["body"].startswith("This post is part of Polyarchy")
    assert f["body"].endswith("many reasons to be skeptical.")
    assert f["published"] == "2016-12-09 18:31:00"
    assert f["url"] == "https://www.vox.com/polyarchy/2016/12/9/13898340/democracy-skepticism"
    assert f["section"] is None
    assert recs[1].fields["section"] == "Sports"
    assert recs[2].fields["authors"] == []
    out = list(normalize_all(recs, "atn"))
    assert all(isinstance(o, Article) for o in out)
    assert out[0].published_at.isoformat() == "2016-12-09T18:31:00+00:00"


def test_fakenews_layout():
    recs = list(read_dump(FAKENEWS))
    assert [type(r) for r in recs] == [RawRecord] * 3
    f = recs[1].fields
    assert "source_domain" not in f and "publication" not in f
    assert f["url"] == "http://beforeitsnews.com/dna/"
    assert f["title"] == "AWAKENING OF 12 STRANDS of DNA"
    assert f["authors"] == ["Linda Rivera", "Conrad Calvano"]
    assert f["topics"] == ["Health", "Science"]
    assert f["description"] == "A film about DNA."
    # No publication date in this layout: the crawl time is not one.
    assert f["published"] is None
    assert f["scraped_at"] == "2018-01-25 16:17:44.789555"
    assert recs[0].fields["body"].startswith("Sometimes the power of Christmas")
    out = list(normalize_all(recs, "fakenews"))
    assert [type(o) for o in out] == [Article, Article, Reject]


def test_field_beyond_limit_is_a_reject(tmp_path, monkeypatch):
    import etl.readers.csv_dump as module

    monkeypatch.setattr(module, "PIECE", 4096)
    big = ('Lorem ipsum, dolor ""sit"" amet.\n' * 20_000).encode()  # ~700 KB, quoted, multi-line
    path = tmp_path / "big.csv"
    path.write_bytes(
        FAKENEWS_HEADER.encode()
        + b'0,1,a.com,fake,http://a.com/1,"'
        + big
        + b'",2018-01-25,,,Big one,,,,,,\n'
        + b"1,2,b.com,fake,http://b.com/2,Small body.,2018-01-25,,,Small one,,,,,,\n"
        + b"2,3,c.com,fake,http://c.com/3,A line-long field "
        + b"x" * 500_000
        + b",,,,Long,,,,,,\n"
        + b"3,4,d.com,fake,http://d.com/4,Last body.,,,,Last,,,,,,\n"
    )
    recs = list(read_dump(path, max_record_bytes=200_000))
    assert [type(r) for r in recs] == [Reject, RawRecord, Reject, RawRecord]
    assert recs[0].reason_code is RejectReason.OVERSIZED
    assert recs[0].reason.startswith(f"The CSV row starting at line 2 of {path} is ")
    assert "more than the 200,000 bytes a record may have ([ingest] max_record_bytes)" in recs[0].reason
    assert recs[1].fields["title"] == "Small one"
    # The big field spans lines 2-20002, "Small one" is line 20003.
    assert recs[2].reason.startswith(f"The CSV row starting at line {20_004} of")
    assert recs[3].fields["body"] == "Last body."


def test_the_csv_field_limit_is_raised_above_the_record_bound():
    import csv

    from etl.readers.base import DEFAULT_MAX_RECORD_BYTES

    read_bytes(FAKENEWS_HEADER.encode())
    assert DEFAULT_MAX_RECORD_BYTES == 10 * 1024 * 1024
    assert csv.field_size_limit() >= DEFAULT_MAX_RECORD_BYTES


def test_header_without_body_column():
    recs = read_bytes(b"id,title,url\n1,A,u\n2,B,v\n")
    assert len(recs) == 1
    assert recs[0].reason_code is RejectReason.UNSUPPORTED
    assert recs[0].reason == (
        "The CSV header of mem has no body column: expected one of content, article, text, "
        "maintext, body, found 'id', 'title', 'url'."
    )


def test_tsv_bom_blank_lines_and_crlf():
    data = b"\xef\xbb\xbftitle\tarticle\tdate\r\nA\tBody a.\t2020-01-01\r\n\r\nB\tBody b.\t\r\n"
    recs = read_bytes(data)
    assert [r.fields["title"] for r in recs] == ["A", "B"]
    assert [r.ordinal for r in recs] == [0, 1]
    assert recs[0].fields["published"] == "2020-01-01" and recs[1].fields["published"] is None


def test_non_utf8_line_falls_back():
    recs = read_bytes(b"title,content\nCaf\xe9,It\x92s here.\nOK,Fine \xe2\x80\x94 yes.\n")
    assert recs[0].fields["title"] == "Caf\u00e9" and recs[0].fields["body"] == "It\u2019s here."
    assert recs[0].fields["encoding"] == "cp1252"
    assert recs[1].fields["body"] == "Fine \u2014 yes." and "encoding" not in recs[1].fields


def test_detect_format_by_extension_and_content():
    assert detect_format("articles1.csv", ATN_V1.read_bytes()) == "csv"
    assert detect_format("dump.dat", ATN_21.read_bytes()) == "csv"
    assert detect_format("news_sample.csv", FAKENEWS.read_bytes()) == "csv"
    assert detect_format("dump.tsv", b"title\tcontent\nA\tB\n") == "csv"
    assert detect_format("dump.dat", b"\xef\xbb\xbftitle\tcontent\n") == "csv"
