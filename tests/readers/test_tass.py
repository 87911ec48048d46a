"""TASS reader: the seed article field by field, layout variants, encodings, splitting."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.normalize import normalize
from etl.readers import read_dump
from etl.readers.tass import read_tass, split_topics
from etl.records import RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEED = FIXTURES / "tass-seed-article.txt"
RELATED_HEADLINE = "Russian bombers destroy Islamic State's arms depots in Deir ez-Zor"


def read_bytes(data: bytes, location: str = "mem") -> list[RawRecord | Reject]:
    return list(read_tass(io.BytesIO(data), location))


def only_record(data: bytes) -> RawRecord:
    (record,) = read_bytes(data)
    assert isinstance(record, RawRecord), getattr(record, "reason", record)
    return record


def test_seed_article_every_field():
    record = only_record(SEED.read_bytes())
    f = record.fields
    assert record.locator == "mem#0" and record.ordinal == 0 and record.format == "tass"
    assert f["title"] == (
        "Russian Aerospace Forces, Syrian army and opposition ready to fight IS together \u2014 Lavrov"
    )
    assert f["section"] == "Russian Politics & Diplomacy"
    assert f["published"] == "2017-01-25T14:44:00+03:00"
    assert f["published_precision"] == "minute"
    assert f["lead"] == (
        "Russia\u2019s top diplomat noted that Moscow is stepping up cooperation with Turkey, "
        "Iran and other countries of the region to solve the pressing issues of the Syrian crisis"
    )
    assert f["dateline"] == "MOSCOW, January 25. /TASS/."
    assert f["dateline_place"] == "MOSCOW"
    assert f["agency"] == "TASS"
    assert f["topics"] == ["Islamic State", "Foreign policy", "Syrian conflict"]
    assert f["persons"] == ["Sergey Lavrov"]
    body = f["body"]
    assert body.startswith("Russia\u2019s Aerospace Forces, the Syrian government")
    assert body.endswith('namely in Syria, Iraq, Libya and Yemen," Lavrov stressed.')
    assert "Back to Main page" not in body
    assert "Topics" not in body and "Persons" not in body and "Sergey Lavrov\n" not in body
    assert "\u00a0" not in body and "\n\n\n" not in body
    assert f["lead"] not in body  # the lead paragraph is not repeated in the body
    assert record.raw.lstrip().startswith("date 2017-01-25")


def test_seed_article_normalised():
    article = normalize(only_record(SEED.read_bytes()), "tass")
    assert article.published_at == datetime(2017, 1, 25, 11, 44, tzinfo=UTC)
    assert not article.body.startswith("MOSCOW")
    assert article.dateline == "MOSCOW, January 25. /TASS/."
    assert RELATED_HEADLINE in article.body
    assert RELATED_HEADLINE not in article.dedup_text
    assert "The outcome of Astana talks" in article.body
    assert "The outcome of Astana talks" not in article.dedup_text
    assert "Expert says Syria talks in Astana" not in article.dedup_text
    assert article.dedup_text.startswith("Russia\u2019s Aerospace Forces")
    assert article.topics == ["Islamic State", "Foreign policy", "Syrian conflict"]
    assert article.persons == ["Sergey Lavrov"]
    assert len(article.content_hash) == 64


def test_windows_and_old_mac_line_endings_give_the_same_fields():
    data = SEED.read_bytes()
    expected = only_record(data).fields
    assert b"\r" not in data
    assert only_record(data.replace(b"\n", b"\r\n")).fields == expected
    assert only_record(data.replace(b"\n", b"\r")).fields == expected


def test_crlf_split_across_read_blocks():
    data = SEED.read_bytes().replace(b"\n", b"\r\n")
    stream = io.BytesIO(data)
    records = list(read_tass(_SmallReads(stream), "mem"))
    assert records[0].fields == only_record(SEED.read_bytes()).fields


class _SmallReads(io.RawIOBase):
    """A stream that returns at most 7 bytes per read, to cut \\r\\n pairs in half."""

    def __init__(self, inner: io.BytesIO) -> None:
        self.inner = inner

    def read(self, size: int = -1) -> bytes:
        return self.inner.read(7)


def test_utf8_bom_is_ignored():
    record = only_record(b"\xef\xbb\xbf" + SEED.read_bytes())
    assert record.fields["title"].startswith("Russian Aerospace Forces")


def test_cp1252_curly_quote_is_decoded():
    data = SEED.read_bytes().replace("\u2019".encode(), b"\x92")
    data = data.replace("\u2014".encode(), b"\x97").replace("\u00a0".encode(), b"\xa0")
    record = only_record(data)
    assert record.fields["encoding"] == "cp1252"
    assert record.fields["lead"].startswith("Russia\u2019s top diplomat")
    assert record.fields["title"].endswith("together \u2014 Lavrov")


def test_latin1_byte_is_decoded():
    data = (
        b"date 2020-02-02\nM\xfcnchen hosts security conference\n\nWorld\n"
        b"February 2, 10:00 UTC+1\n"
        b"MUNICH, February 2. /TASS/. Delegations arrived in M\xfcnchen on Sunday.\n"
        b"\x81\n"
    )
    record = only_record(data)
    assert record.fields["encoding"] == "latin-1"
    assert record.fields["title"] == "M\u00fcnchen hosts security conference"
    assert record.fields["dateline_place"] == "MUNICH"
    assert record.fields["published"] == "2020-02-02T10:00:00+01:00"


def test_wrapped_title_and_multiline_trailers():
    record = only_record((FIXTURES / "tass-wrapped-title.txt").read_bytes())
    f = record.fields
    assert f["title"] == (
        "UN Security Council to hold emergency session on water supply crisis in "
        "drought-hit Horn of Africa \u2014 envoy"
    )
    assert f["section"] == "World"
    assert f["published"] == "2019-03-04T09:15:00-05:00"
    assert f["dateline"] == "NEW YORK, March 4. /TASS/."
    assert f["dateline_place"] == "NEW YORK"
    assert f["lead"] == "The meeting was requested by three non-permanent members of the council"
    assert f["topics"] == ["Drought", "Water supply", "United Nations"]
    assert f["persons"] == ["Antonio Guterres", "Vasily Nebenzya"]
    assert f["body"].split("\n\n") == [
        "The UN Security Council will hold an emergency session on Tuesday to discuss the water "
        "supply crisis in the Horn of Africa, a diplomatic source told reporters at the "
        "organization's headquarters.",
        "Drought leaves millions without drinking water, UN agency says",
        "According to the source, the request was backed by a majority of council members after "
        "a report on failing harvests was circulated last week.",
    ]


def test_missing_trailer_gives_empty_lists():
    f = only_record((FIXTURES / "tass-no-trailer.txt").read_bytes()).fields
    assert f["topics"] == [] and f["persons"] == []
    assert f["dateline_place"] == "ST. PETERSBURG"
    assert f["body"].startswith("The State Hermitage Museum reopened")
    assert f["body"].endswith("protects the canvases from ultraviolet radiation.")
    assert len(f["body"].split("\n\n")) == 2


def test_missing_time_line_falls_back_to_header_day():
    f = only_record((FIXTURES / "tass-no-time-line.txt").read_bytes()).fields
    assert f["published"] == "2021-11-09T00:00:00+00:00"
    assert f["published_precision"] == "day"
    assert f["title"] == "Arctic shipping season on Northern Sea Route extended by two weeks"
    assert f["section"] == "Business & Economy"
    assert f["lead"] == "Icebreaker escort will be available until the end of November"
    assert f["dateline_place"] == "MURMANSK"
    assert f["topics"] == ["Arctic", "Shipping"]
    assert f["body"].startswith("The navigation season on the Northern Sea Route")


def test_year_boundary_uses_previous_year():
    f = only_record((FIXTURES / "tass-year-boundary.txt").read_bytes()).fields
    assert f["published"] == "2017-12-31T23:50:00+03:00"
    assert f["dateline"] == "MOSCOW, January 1. /TASS/."


def test_concatenated_file_ordinals_and_locators():
    records = list(read_dump(FIXTURES / "tass-concatenated.txt", location="dumps/may.txt"))
    assert [type(r) for r in records] == [RawRecord, RawRecord, RawRecord]
    assert [r.ordinal for r in records] == [0, 1, 2]
    assert [r.locator for r in records] == ["dumps/may.txt#0", "dumps/may.txt#1", "dumps/may.txt#2"]
    first, second, third = (r.fields for r in records)
    assert first["title"].startswith("Kazakhstan reports record wheat exports")
    assert first["dateline_place"] == "NUR-SULTAN"
    assert first["topics"] == ["Agriculture"] and first["persons"] == []
    # The second article has no dateline: no lead, everything after the time line is body.
    assert second["lead"] is None and second["dateline"] is None and second["agency"] is None
    assert second["body"].startswith("Organisers said that the schedule")
    assert second["body"].endswith("Tickets for spectators will go on sale in June.")
    assert third["dateline"] == "UNITED NATIONS, May 10. /TASS/."
    assert third["published"] == "2022-05-11T02:10:00+00:00"
    assert third["persons"] == ["Abdulla Shahid"] and third["topics"] == []
    # Each chunk's raw text is its own article only.
    assert "Chess olympiad" not in records[0].raw and "Chess olympiad" in records[1].raw


def test_text_before_first_header_is_rejected():
    data = b"saved from tass.com\n\n" + SEED.read_bytes()
    records = read_bytes(data)
    assert [type(r) for r in records] == [Reject, RawRecord]
    assert records[0].reason_code is RejectReason.MALFORMED
    assert "before the first 'date YYYY-MM-DD' header" in records[0].reason
    assert records[0].raw.strip() == "saved from tass.com"
    assert [r.locator for r in records] == ["mem#0", "mem#1"]


def test_blank_preamble_is_not_a_record():
    records = read_bytes(b"\n  \n" + SEED.read_bytes())
    assert len(records) == 1 and records[0].ordinal == 0


def test_missing_title_is_rejected():
    (reject,) = read_bytes(b"date 2020-01-01\n\nJanuary 1, 10:00 UTC+3\nSome body text here.\n")
    assert isinstance(reject, Reject)
    assert reject.reason_code is RejectReason.MISSING_TITLE
    assert "has no title" in reject.reason and "2020-01-01" in reject.reason


def test_missing_body_is_rejected():
    data = b"date 2020-01-01\nA title only\n\nWorld\nJanuary 1, 10:00 UTC+3\n\nTopics\nNothing\n"
    (reject,) = read_bytes(data)
    assert isinstance(reject, Reject)
    assert reject.reason_code is RejectReason.MISSING_BODY
    assert "'A title only'" in reject.reason and "no body text" in reject.reason


def test_impossible_header_date_is_rejected():
    (reject,) = read_bytes(b"date 2020-13-45\nTitle\n\nWorld\nJanuary 1, 10:00 UTC+3\nBody.\n")
    assert reject.reason_code is RejectReason.BAD_DATE
    assert "'2020-13-45'" in reject.reason


@pytest.mark.parametrize(
    ("time_line", "expected"),
    [
        ("January 25, 14:44 UTC+3", "2017-01-25T14:44:00+03:00"),
        ("January 25, 09:05 UTC-5", "2017-01-25T09:05:00-05:00"),
        ("January 24, 21:30 UTC+5:30", "2017-01-24T21:30:00+05:30"),
        ("January 26, 00:10 UTC", "2017-01-26T00:10:00+00:00"),  # one day ahead: same year
        ("January 27, 00:10 UTC", "2016-01-27T00:10:00+00:00"),  # two days ahead: previous year
    ],
)
def test_time_line_offsets_and_year(time_line: str, expected: str):
    data = f"date 2017-01-25\nTitle\n\nWorld\n{time_line}\nBody text.\n".encode()
    assert only_record(data).fields["published"] == expected


def test_impossible_time_line_date_is_passed_on_verbatim():
    data = b"date 2017-03-01\nTitle\n\nWorld\nFebruary 30, 10:00 UTC+3\nBody text.\n"
    assert only_record(data).fields["published"] == "February 30, 10:00 UTC+3"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Islamic State Foreign policy Syrian conflict",
            ["Islamic State", "Foreign policy", "Syrian conflict"],
        ),
        ("Ukraine crisis Donald Trump", ["Ukraine crisis", "Donald Trump"]),
        ("Arctic", ["Arctic"]),
        ("energy Gazprom", ["energy", "Gazprom"]),
    ],
)
def test_split_topics_heuristic(line: str, expected: list[str]):
    assert split_topics(line) == expected


def test_single_line_trailers_with_separators():
    data = (
        "date 2017-01-25\nTitle\n\nWorld\nJanuary 25, 10:00 UTC+3\nBody text.\n"
        "Topics\nSanctions | Energy \u00b7 Oil\nPersons\nVladimir Putin, Xi Jinping\n"
    ).encode()
    f = only_record(data).fields
    assert f["topics"] == ["Sanctions", "Energy", "Oil"]
    assert f["persons"] == ["Vladimir Putin", "Xi Jinping"]
    assert f["body"] == "Body text."


def test_topics_sub_heading_inside_body_is_not_a_trailer():
    closing = "The ministers discussed trade, energy and the region, the spokesman said."
    data = (
        f"date 2017-01-25\nTitle\n\nWorld\nJanuary 25, 10:00 UTC+3\nFirst paragraph.\n\nTopics\n\n{closing}\n"
    ).encode()
    f = only_record(data).fields
    assert f["topics"] == []
    assert f["body"].split("\n\n") == ["First paragraph.", "Topics", closing]
