"""Property-based fuzzing of every reader and container: only records and rejects, never an exception.

Arbitrary bytes and mutated valid dumps (bit flips, truncation, inserted bytes) go
through :func:`etl.readers.read_dump` with every format and with ``auto``, plain and
inside every container. Where the number of elements is knowable (JSON Lines
lines, JSON array elements, TASS articles), records + rejects must account for
each exactly once. Examples are few and ``deadline=None``: the suite stays under a minute.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import signal
import tarfile
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from etl.readers import SPECS, UNEXPECTED, read_dump
from etl.readers.containers import sniff_container
from etl.records import RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
FORMATS = ["auto", *SPECS]
LIMIT = 4096
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_WORKDIR = Path(tempfile.mkdtemp(prefix="newsetl-fuzz-"))


def warc_bytes() -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    for i in range(2):
        html = f"<html><head><title>T{i}</title></head><body><p>{'Word ' * 40}{i}.</p></body></html>"
        writer.write_record(
            writer.create_warc_record(
                f"https://x.org/{i}",
                "response",
                payload=io.BytesIO(html.encode()),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
            )
        )
    return buffer.getvalue()


SAMPLES: dict[str, bytes] = {
    "a.jsonl": (FIXTURES / "crawl-mixed.jsonl").read_bytes(),
    "a.json": (FIXTURES / "tass-scraper-sample.json").read_bytes(),
    "a.csv": (FIXTURES / "all-the-news-v1.csv").read_bytes()[:6000],
    "a.txt": (FIXTURES / "tass-concatenated.txt").read_bytes(),
    "a.sgm": (FIXTURES / "reuters-sample.sgm").read_bytes(),
    "a.xml": (FIXTURES / "feed-rss2.xml").read_bytes(),
    "b.xml": (FIXTURES / "feed-atom.xml").read_bytes(),
    "a.warc": warc_bytes(),
    "b.txt": (FIXTURES / "text" / "sport" / "002.txt").read_bytes(),
}


def wrap(name: str, data: bytes, container: str) -> tuple[str, bytes]:
    """``data`` named ``name`` inside ``container`` (none, gz, bz2, xz, zip, tar, zip of gz)."""
    if container == "none":
        return name, data
    if container in ("gz", "bz2", "xz"):
        compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[container]
        return f"{name}.{container}", compress(data)
    buffer = io.BytesIO()
    if container == "tar":
        with tarfile.open(fileobj=buffer, mode="w") as tf:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        return "d.tar", buffer.getvalue()
    inner_name, inner = (f"{name}.gz", gzip.compress(data)) if container == "zip-gz" else (name, data)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(inner_name, inner)
    return "d.zip", buffer.getvalue()


class Hang(Exception):
    pass


def _hang(signum, frame):
    raise Hang("a reader took more than 20 s over a small input: it probably loops")


def read_all(name: str, data: bytes, fmt: str) -> list[RawRecord | Reject]:
    """Everything read_dump yields for ``data``; checks the types and the ordinals.

    A reader that loops fails the test (an alarm after 20 s) instead of hanging the suite.
    """
    path = _WORKDIR / name
    path.write_bytes(data)
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(20)
    try:
        items = list(read_dump(path, format=fmt, max_record_bytes=LIMIT))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert all(isinstance(item, RawRecord | Reject) for item in items)
    assert [item.ordinal for item in items] == list(range(len(items)))
    for item in items:
        assert isinstance(item.locator, str) and item.locator
        if isinstance(item, Reject):
            assert item.reason and "\x00" not in item.reason + item.raw
            assert UNEXPECTED not in item.reason, item.reason  # the safety net must never be needed
    return items


CONTAINERS = st.sampled_from(["none", "gz", "bz2", "xz", "zip", "tar", "zip-gz"])


@FUZZ
@given(
    data=st.binary(max_size=1500),
    name=st.sampled_from(["x.jsonl", "x.json", "x.csv", "x.txt", "x.sgm", "x.xml", "x.warc", "x.bin"]),
    fmt=st.sampled_from(FORMATS),
    container=CONTAINERS,
)
def test_arbitrary_bytes_give_only_records_and_rejects(data, name, fmt, container):
    read_all(*wrap(name, data, container), fmt)


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    data = bytearray(SAMPLES[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 50))]
    return name, bytes(data)


@FUZZ
@given(sample=mutated(), container=CONTAINERS, auto=st.booleans())
def test_mutated_dumps_give_only_records_and_rejects(sample, container, auto):
    name, data = sample
    fmt = (
        "auto"
        if auto
        else {
            ".jsonl": "jsonl",
            ".json": "json_array",
            ".csv": "csv",
            ".sgm": "reuters",
            ".xml": "feed",
            ".warc": "warc",
        }.get(Path(name).suffix, "tass" if name == "a.txt" else "text")
    )
    read_all(*wrap(name, data, container), fmt)


@FUZZ
@given(
    lines=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    container=CONTAINERS,
)
def test_every_jsonl_line_is_one_record_or_one_reject(lines, container):
    data = b"\n".join(lines) + b"\n"
    # bytes that open with an archive's signature are read as that archive (one reject if it
    # is not a readable one), whatever the name says: no line count to check then
    assume(sniff_container(data) is None)
    items = read_all(*wrap("x.jsonl", data, container), "jsonl")
    if lines:
        lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    expected = sum(1 for line in lines if line.strip() or len(line) > LIMIT)
    assert len(items) == expected


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ARTICLES = st.fixed_dictionaries(
    {"title": st.text(max_size=40), "maintext": st.text(max_size=200)},
    optional={"url": JSON_VALUES, "authors": JSON_VALUES, "date": JSON_VALUES},
)


@FUZZ
@given(elements=st.lists(ARTICLES | JSON_VALUES, max_size=12), container=CONTAINERS)
def test_every_json_array_element_is_one_record_or_one_reject(elements, container):
    data = json.dumps(elements, indent=1).encode()
    items = read_all(*wrap("x.json", data, container), "json_array")
    assert len(items) == len(elements)


@FUZZ
@given(elements=st.lists(ARTICLES | JSON_VALUES, max_size=12))
def test_every_json_lines_value_is_one_record_or_one_reject(elements):
    data = b"".join(json.dumps(e).encode() + b"\n" for e in elements)
    assert len(read_all("x.jsonl", data, "jsonl")) == len(elements)


@FUZZ
@given(
    bodies=st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400), max_size=6),
    container=CONTAINERS,
)
def test_every_tass_article_is_one_record_or_one_reject(bodies, container):
    data = "".join(f"date 2024-01-{i + 1:02d}\nTitle {i}\n\n{body}\n" for i, body in enumerate(bodies))
    items = read_all(*wrap("x.txt", data.encode(), container), "tass")
    assert len(items) == len(bodies)


def test_an_integer_python_refuses_is_one_reject_and_reading_goes_on():
    """Found by fuzzing: json raises a bare ValueError for integers over 4,300 digits."""
    huge = "7" * 5000
    lines = f'{{"title": "a", "maintext": "b", "n": {huge}}}\n{{"title": "c", "maintext": "d"}}\n'
    items = read_all("x.jsonl", lines.encode(), "jsonl")
    assert [type(i) for i in items] == [Reject, RawRecord]
    array = f'[{huge}, {{"title": "c", "maintext": "d"}}, {{"n": {huge}}}, {{"title": "e", "text": "f"}}]'
    items = read_all("x.json", array.encode(), "json_array")
    assert [type(i) for i in items] == [Reject, RawRecord, Reject, RawRecord]


def test_nesting_deeper_than_python_allows_is_one_reject_and_reading_goes_on():
    deep = "[" * 100_000
    lines = f'{{"a": {deep}}}\n{{"title": "c", "maintext": "d"}}\n'
    items = read_all("x.jsonl", lines.encode(), "jsonl")
    assert [type(i) for i in items] == [Reject, RawRecord]
    array = f'[{{"title": "a", "text": "b", "z": {deep}{"]" * 100_000}}}, {{"title": "c", "maintext": "d"}}]'
    items = read_all("x.json", array.encode(), "json_array")
    assert [type(i) for i in items] == [Reject, RawRecord]


def test_a_csv_header_the_csv_module_cannot_parse_is_one_reject():
    """Found by fuzzing: csv.Error (not a ValueError) from the header line escaped the reader."""
    (reject,) = read_all("x.csv", b"\r\x01", "csv")
    assert reject.reason_code == RejectReason.UNSUPPORTED and "cannot be parsed" in reject.reason


def test_a_stray_closing_brace_in_an_array_does_not_stop_the_reader_for_ever():
    """Found by fuzzing: the skipper stopped in front of a top-level "}" and the reader looped."""
    items = read_all(
        "x.json", b'[{"title": "a", "text": "b"}, }, {"title": "c", "text": "d"} }]', "json_array"
    )
    assert [type(i) for i in items] == [RawRecord, Reject, RawRecord, Reject]
