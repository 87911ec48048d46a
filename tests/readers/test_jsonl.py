"""JSONL reader: both crawler layouts, and every way a line can be rejected."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from etl.errors import TerminalError
from etl.readers import READERS, detect_format, read_dump
from etl.readers.jsonl import read_jsonl
from etl.records import RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
MIXED = FIXTURES / "crawl-mixed.jsonl"


def read_lines(*lines: bytes | str) -> list[RawRecord | Reject]:
    data = b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)
    return list(read_jsonl(io.BytesIO(data), "mem"))


def test_mixed_fixture_counts_and_ordinals():
    records = list(read_dump(MIXED))
    assert len(records) == 8  # 9 lines, one of them blank
    assert [r.ordinal for r in records] == list(range(8))
    assert records[0].locator == f"{MIXED}#0"
    kinds = [type(r).__name__ for r in records]
    # Lines 7-9 parse fine here; normalisation rejects them (see tests/test_normalize.py).
    assert kinds == ["RawRecord"] * 2 + ["Reject"] * 3 + ["RawRecord"] * 3


def test_news_please_layout():
    record = list(read_dump(MIXED))[0]
    assert record.format == "jsonl"
    assert record.fields == {
        "title": "Tram depots to become libraries",
        "body": (
            "The city council approved a plan on Monday to convert three disused tram depots into "
            "public libraries, with the first expected to open next spring.\n\n"
            "Council members said the project would cost less than building new libraries from "
            "scratch."
        ),
        "url": "https://example.org/news/tram-depots",
        "published": "2017-07-17 17:03:00",
        "language": "en",
        "authors": ["Jane Doe", "Omar Haddad"],
        "description": "Council approves conversion plan.",
    }
    assert json.loads(record.raw)["maintext"] == record.fields["body"]


def test_cc_news_layout():
    record = list(read_dump(MIXED))[1]
    f = record.fields
    assert f["title"] == "Sea temperatures hit record"
    assert f["body"].startswith("Researchers at a coastal observatory")
    assert f["published"] == "2019-08-02T06:30:00Z"
    assert "source_domain" not in f  # no column for it; the url carries the host
    assert f["url"] == "https://news.example.com/sea-temps"
    assert f["language"] is None and f["authors"] == []


def test_invalid_json_line_reason():
    reject = list(read_dump(MIXED))[2]
    assert reject.reason_code is RejectReason.MALFORMED
    assert reject.reason == "line 4 is not valid JSON: Expecting ',' delimiter at column 47"
    assert reject.raw.startswith('{"title": "Broken record"')


def test_non_object_line_reason():
    reject = list(read_dump(MIXED))[3]
    assert reject.reason_code is RejectReason.MALFORMED
    assert reject.reason == "line 5 holds a JSON array, not an object."


def test_undecodable_line_reason():
    reject = list(read_dump(MIXED))[4]
    assert reject.reason_code is RejectReason.UNDECODABLE
    assert reject.reason.startswith("line 6 is not valid UTF-8: byte 0xfc")
    assert "\ufffd" in reject.raw


@pytest.mark.parametrize(("value", "kind"), [('"just text"', "string"), ("42", "number"), ("null", "null")])
def test_other_non_objects(value: str, kind: str):
    (reject,) = read_lines(value)
    assert reject.reason == f"line 1 holds a JSON {kind}, not an object."


@pytest.mark.parametrize("key", ["content", "article", "body"])
def test_body_fallback_keys(key: str):
    (record,) = read_lines(json.dumps({"title": "T", key: "Body text."}))
    assert record.fields["body"] == "Body text."


@pytest.mark.parametrize("key", ["date_published", "published"])
def test_date_fallback_keys(key: str):
    (record,) = read_lines(json.dumps({"title": "T", "text": "B", key: "2020-05-05"}))
    assert record.fields["published"] == "2020-05-05"


def test_preferred_key_wins_and_null_falls_through():
    line = json.dumps({"maintext": None, "text": "cc text", "content": "other", "authors": "Ann Lee"})
    (record,) = read_lines(line)
    assert record.fields["body"] == "cc text"
    assert record.fields["authors"] == ["Ann Lee"]


def test_body_as_list_of_paragraphs_is_joined():
    (record,) = read_lines(json.dumps({"title": "T", "content": ["One.", "Two."]}))
    assert record.fields["body"] == "One.\n\nTwo."


def test_blank_lines_take_no_ordinal_but_count_in_line_numbers():
    records = read_lines("", json.dumps({"title": "A"}), "   ", "{broken")
    assert [r.ordinal for r in records] == [0, 1]
    assert [r.locator for r in records] == ["mem#0", "mem#1"]
    assert records[1].reason.startswith("line 4 is not valid JSON")


def test_reader_streams_line_by_line():
    class EndlessLines(io.RawIOBase):
        """An endless dump that counts how many bytes the reader pulled."""

        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = (b'{"title": "a"}\n' * 1024)[: len(buffer)]
            buffer[: len(chunk)] = chunk
            self.served += len(chunk)
            return len(chunk)

    raw = EndlessLines()
    records = read_jsonl(io.BufferedReader(raw), "mem")
    first_three = [next(records) for _ in range(3)]
    assert [r.fields["title"] for r in first_three] == ["a", "a", "a"]
    assert raw.served < 64 * 1024


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("crawl.jsonl", b'{"a": 1}', "jsonl"),
        ("crawl.ndjson", b'  \n{"a": 1}', "jsonl"),
        ("crawl.json", b'\xef\xbb\xbf{"a": 1}', "jsonl"),
        ("article.txt", b"stray preamble\n date 2017-01-25 Back to Main page\n", "tass"),
        ("article.dat", b"\n date 2017-01-25 Back to Main page\n", "tass"),
    ],
)
def test_detect_format(name: str, head: bytes, expected: str):
    assert detect_format(Path(name), head) == expected


def test_detect_format_refuses_unknown_content():
    with pytest.raises(TerminalError, match="cannot tell the format of dump.bin"):
        detect_format(Path("dump.bin"), b"\x00\x01\x02 binary")


def test_read_dump_unknown_format_lists_known_ones():
    with pytest.raises(TerminalError, match="known formats: auto, .*jsonl"):
        read_dump(MIXED, format="docx")
    assert {"tass", "jsonl"} <= set(READERS)


def test_read_dump_missing_file():
    with pytest.raises(TerminalError, match="does not exist"):
        read_dump(FIXTURES / "no-such-file.jsonl")


def test_read_dump_explicit_format_and_location():
    records = list(read_dump(FIXTURES / "tass-seed-article.txt", "tass", location="s3://b/k"))
    assert [r.locator for r in records] == ["s3://b/k#0"]


def test_truncated_line_message_reads_naturally():
    (reject,) = read_lines('{"title": "Cut off", "maintext": "The operator said')
    assert reject.reason == ("line 1 is not valid JSON: Unterminated string starting at column 34")


def test_crlf_line_endings():
    data = b'{"title": "a", "text": "b"}\r\n\r\n{"title": "c"\r\n'
    records = list(read_jsonl(io.BytesIO(data), "mem"))
    assert records[0].fields["title"] == "a" and records[0].raw.endswith("}")
    assert records[1].reason == "line 3 is not valid JSON: Expecting ',' delimiter at column 14"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"nested": "object"}, 'JSON object ({"nested": "object"})'),
        (12, "JSON number (12)"),
        (True, "JSON boolean (true)"),
        (["para", 3], "list holding a JSON number (3)"),
    ],
)
@pytest.mark.parametrize("key", ["maintext", "url", "title", "description", "authors", "language"])
def test_a_field_of_the_wrong_json_type_is_a_reject_not_its_python_text(key, value, shown, tmp_path):
    if isinstance(value, list) and key not in ("maintext", "authors"):
        value = {"nested": "object"}  # lists are allowed only for body and authors
        shown = 'JSON object ({"nested": "object"})'
    record = {"title": "T", "maintext": "Body text.", "url": "https://x.org/a", key: value}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({"title": "Ok", "maintext": "B."}) + "\n")
    out = list(read_dump(path))
    assert [type(o).__name__ for o in out] == ["Reject", "RawRecord"]
    assert out[0].reason_code == RejectReason.MALFORMED
    assert f"field '{key}'" in out[0].reason and shown in out[0].reason


def test_lists_of_strings_and_nulls_are_kept_and_a_source_object_is_passed_over(tmp_path):
    record = {
        "title": "T",
        "maintext": ["One.", None, "Two."],
        "authors": ["A", None],
        "source": {"name": "BBC"},
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps([record]))
    (out,) = list(read_dump(path))
    assert out.fields["body"] == "One.\n\nTwo." and out.fields["authors"] == ["A"]
    assert "source_domain" not in out.fields
