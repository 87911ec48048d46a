"""JSON-array reader: the tass.com scraper layout, streaming, broken and truncated arrays."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.readers.json_array import read_json_array
from etl.records import Article, RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAMPLE = FIXTURES / "tass-scraper-sample.json"


def read_bytes(data: bytes | str) -> list[RawRecord | Reject]:
    if isinstance(data, str):
        data = data.encode()
    return list(read_json_array(io.BytesIO(data), "mem"))


def article(i: int) -> dict:
    return {"title": f"Title {i}", "text": f"Body of article {i} with enough words to read.", "url": f"u{i}"}


def test_scraper_layout():
    recs = list(read_dump(SAMPLE))
    assert [type(r) for r in recs] == [RawRecord] * 3
    assert [r.ordinal for r in recs] == [0, 1, 2]
    f = recs[0].fields
    assert recs[0].format == "json_array"
    assert f["title"] == "Lavrov holds talks with Turkish counterpart in Moscow"
    assert f["url"] == "https://tass.com/politics/1000001"
    assert f["published"] == "2024-12-26 21:09:18"
    assert f["description"] == "The ministers discussed the situation in Syria and bilateral trade"
    # content[0] repeats the description and is dropped; paragraphs are joined with blank lines.
    assert f["body"] == (
        "MOSCOW, December 26. /TASS/. Russian Foreign Minister Sergey Lavrov held talks with his "
        "Turkish counterpart on Thursday, the ministry said.\n\n"
        "The two sides discussed the situation in Syria, trade and energy cooperation."
    )
    assert "top_words" not in f and f["authors"] == []
    # Article 2's first paragraph is not the description: it stays.
    assert recs[1].fields["body"].startswith("MOSCOW, December 25. /TASS/.")
    assert recs[2].fields["body"].count("\n\n") == 2


def test_scraper_sample_normalises():
    out = list(normalize_all(read_dump(SAMPLE), "tass"))
    assert [type(o) for o in out] == [Article] * 3
    assert out[2].published_at.isoformat() == "2024-12-24T15:30:45+00:00"


@pytest.mark.parametrize("chunk", [3, 64, 64 * 1024])
def test_streams_across_chunk_boundaries(monkeypatch, chunk):
    import etl.readers.json_array as module

    monkeypatch.setattr(module, "CHUNK", chunk)
    data = json.dumps([article(i) for i in range(5)] + [1.5, True], indent=2)
    recs = read_bytes(data)
    assert [r.fields["title"] for r in recs[:5]] == [f"Title {i}" for i in range(5)]
    assert [r.reason for r in recs[5:]] == [
        "Array element 5 (line 27) holds a JSON number, not an object.",
        "Array element 6 (line 28) holds a JSON boolean, not an object.",
    ]


def test_broken_element_is_rejected_and_reading_resumes():
    lines = [
        "[",
        json.dumps(article(0)) + ",",
        '{"title": "Broken", "text": "no comma" "url": "x"},',
        json.dumps(article(2)),
        "]",
    ]
    recs = read_bytes("\n".join(lines))
    assert [type(r) for r in recs] == [RawRecord, Reject, RawRecord]
    assert [r.ordinal for r in recs] == [0, 1, 2]
    assert recs[1].reason_code is RejectReason.MALFORMED
    assert recs[1].reason == (
        "Array element 1 (starting at line 3) is not valid JSON: Expecting ',' delimiter "
        "at line 3 column 40; it was skipped."
    )
    assert recs[1].raw.startswith('{"title": "Broken"')
    assert recs[2].fields["title"] == "Title 2"


def test_raw_newline_in_string_is_tolerated():
    data = '[\n{"title": "two\nlines", "text": "a\tb"},\n' + json.dumps(article(1)) + "\n]"
    recs = read_bytes(data)
    assert [type(r) for r in recs] == [RawRecord, RawRecord]
    assert recs[0].fields["title"] == "two\nlines" and recs[0].fields["body"] == "a\tb"


def test_unbalanced_element_is_skipped_by_brackets():
    data = (
        "[\n"
        + json.dumps(article(0))
        + ',\n{"title": "x", "text": [1, 2},\n'
        + json.dumps(article(2))
        + "\n]"
    )
    recs = read_bytes(data)
    assert [type(r) for r in recs] == [RawRecord, Reject, RawRecord]
    assert recs[1].reason.startswith("Array element 1 (starting at line 3) is not valid JSON:")


def test_truncated_array_keeps_what_came_before():
    data = json.dumps([article(i) for i in range(3)])
    recs = read_bytes(data[: data.rindex('"url"')])
    assert [type(r) for r in recs] == [RawRecord, RawRecord, Reject]
    assert recs[2].reason_code is RejectReason.MALFORMED
    assert recs[2].reason == (
        "The JSON array in mem is truncated: the file ends inside element 2; "
        "the 2 element(s) before it were kept."
    )
    recs = read_bytes(data[: data.rindex("{")])  # cut after "},"
    assert [type(r) for r in recs] == [RawRecord, RawRecord, Reject]
    assert "ends after element 1" in recs[2].reason


def test_empty_and_wrapped_arrays():
    assert read_bytes("[]") == []
    assert read_bytes("  \n") == []
    wrapped = json.dumps({"status": "ok", "totalResults": 2, "articles": [article(0), article(1)]})
    assert [r.fields["title"] for r in read_bytes(wrapped)] == ["Title 0", "Title 1"]
    single = json.dumps({"title": "One", "maintext": "Only article.", "date_publish": "2017-07-17 17:03:00"})
    (record,) = read_bytes(single)
    assert record.fields["body"] == "Only article." and record.fields["published"] == "2017-07-17 17:03:00"


def test_news_please_and_cc_news_spellings():
    recs = read_bytes(
        json.dumps(
            [
                {
                    "title": "A",
                    "maintext": "Body A.",
                    "date_publish": "2017-07-17 17:03:00",
                    "authors": ["X"],
                },
                {"title": "B", "text": "Body B.", "date": "2019-08-02", "domain": "d.com", "tags": "a, b"},
            ]
        )
    )
    assert recs[0].fields["body"] == "Body A." and recs[0].fields["authors"] == ["X"]
    assert recs[1].fields["topics"] == ["a", "b"] and "source_domain" not in recs[1].fields


def test_bom_and_non_utf8_element():
    data = b'\xef\xbb\xbf[{"title": "caf\xe9", "text": "it\x92s"}, {"title": "ok", "text": "fine"}]'
    recs = read_bytes(data)
    assert recs[0].fields["title"] == "caf\u00e9"
    assert recs[0].fields["body"] == "it\u2019s"
    assert recs[0].fields["encoding"] == "cp1252"
    assert "encoding" not in recs[1].fields


def test_large_element(monkeypatch):
    import etl.readers.json_array as module

    monkeypatch.setattr(module, "CHUNK", 1024)
    body = "word " * 400_000
    recs = read_bytes(json.dumps([{"title": "big", "text": body}, article(1)]))
    assert len(recs[0].fields["body"]) == len(body)
    assert recs[1].fields["title"] == "Title 1"


def test_detect_format_by_extension_and_content():
    head = SAMPLE.read_bytes()[:4096]
    assert detect_format("politics_20.json", head) == "json_array"
    assert detect_format("dump.dat", head) == "json_array"
    assert detect_format("dump.dat", b"\xef\xbb\xbf  [") == "json_array"
    # A JSON-lines file named .json is still JSON lines.
    assert detect_format("dump.json", b'{"title": "a"}\n{"title": "b"}\n') == "jsonl"


def test_an_element_with_a_field_of_the_wrong_type_is_a_reject(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(
        '[{"title": "T", "content": {"nested": "object"}}, {"title": 5, "text": "B."},'
        ' {"title": "Ok", "text": "B.", "tags": ["a", 1]}, {"title": "Ok", "text": "Body."}]'
    )
    out = list(read_dump(path))
    assert [getattr(o, "reason_code", None) for o in out[:3]] == [RejectReason.MALFORMED] * 3
    assert "field 'content' holds a JSON object" in out[0].reason
    assert "field 'title' holds a JSON number (5)" in out[1].reason
    assert "field 'tags' is a list holding a JSON number (1)" in out[2].reason
    assert out[3].fields["body"] == "Body."
