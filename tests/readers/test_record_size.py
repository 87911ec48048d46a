"""The record size bound ([ingest] max_record_bytes): every reader family, with a small limit.

An oversized record is one ``OVERSIZED`` reject saying its size and the limit, and
the reader goes on with the next record; streaming readers never hold it whole.
"""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from etl.config import IngestConfig, Settings
from etl.errors import ConfigError
from etl.readers import read_dump
from etl.readers.base import DEFAULT_MAX_RECORD_BYTES
from etl.records import RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
LIMIT = 4096
BIG = 100_000


def check_middle_is_oversized(items: list[RawRecord | Reject], size: int | None = None) -> Reject:
    """[record, oversized reject, record], ordinals 0..2; returns the reject."""
    assert [type(i) for i in items] == [RawRecord, Reject, RawRecord], [
        getattr(i, "reason", i) for i in items
    ]
    assert [i.ordinal for i in items] == [0, 1, 2]
    reject = items[1]
    assert reject.reason_code == RejectReason.OVERSIZED
    assert f"more than the {LIMIT:,} bytes a record may have ([ingest] max_record_bytes)" in reject.reason
    if size is not None:
        assert f" is {size:,} bytes" in reject.reason
    return reject


def article(i: int, body: str = "") -> dict:
    return {"title": f"Story {i}", "maintext": body or f"Body of story {i}.", "url": f"https://x.org/{i}"}


def test_jsonl_oversized_line(tmp_path: Path):
    big = json.dumps(article(1, "x" * BIG))
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([json.dumps(article(0)), big, json.dumps(article(2))]) + "\n")
    reject = check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)), len(big) + 1)
    assert reject.locator == f"{path}#1" and reject.reason.startswith("Line 2 is")


def test_jsonl_oversized_line_is_never_held_whole(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    with path.open("w") as fh:
        fh.write(json.dumps(article(0)) + "\n")
        fh.write('{"title": "huge", "maintext": "' + "y" * 30_000_000 + '"}\n')
        fh.write(json.dumps(article(2)) + "\n")
    tracemalloc.start()
    try:
        items = list(read_dump(path, max_record_bytes=1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [RawRecord, Reject, RawRecord]
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes for a 30 MB line with a 1 MiB bound"


def test_json_array_oversized_element_and_string(tmp_path: Path):
    path = tmp_path / "d.json"
    big = json.dumps(article(1, 'z\\"' * (BIG // 3)))
    path.write_text("[" + ",\n".join([json.dumps(article(0)), big, json.dumps(article(2))]) + "]")
    reject = check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)))
    assert reject.reason.startswith("Array element 1 (starting at line 2) is")


def test_json_array_oversized_element_is_never_held_whole(tmp_path: Path):
    path = tmp_path / "d.json"
    with path.open("w") as fh:
        fh.write("[" + json.dumps(article(0)) + ',\n{"title": "huge", "maintext": "')
        fh.write("y" * 30_000_000 + '"},\n' + json.dumps(article(2)) + "]")
    tracemalloc.start()
    try:
        items = list(read_dump(path, max_record_bytes=1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [RawRecord, Reject, RawRecord]
    assert peak < 16 * 1024 * 1024, f"peak {peak:,} bytes for a 30 MB element with a 1 MiB bound"


def test_csv_oversized_row(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text(
        "title,content,url\nA,Body a.,https://x.org/a\n"
        f'B,"{"w " * BIG}",https://x.org/b\nC,Body c.,https://x.org/c\n'
    )
    check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)))


def test_tass_oversized_article(tmp_path: Path):
    seed = (FIXTURES / "tass-seed-article.txt").read_bytes()
    huge = seed.replace(b"Topics", b"x" * BIG + b"\nTopics", 1)
    for name, middle in (("lines", huge), ("one-line", seed.rstrip() + b" " + b"q" * BIG + b"\n")):
        path = tmp_path / f"{name}.txt"
        path.write_bytes(seed + b"\n" + middle + b"\n" + seed)
        reject = check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)))
        assert reject.reason.startswith(f"The TASS article 1 of {path} is")


def test_reuters_oversized_block(tmp_path: Path):
    text = (FIXTURES / "reuters-sample.sgm").read_text("latin-1")
    blocks = text.split("</REUTERS>")
    big = blocks[1].replace("<BODY>", "<BODY>" + "r " * BIG, 1)
    path = tmp_path / "d.sgm"
    path.write_text("</REUTERS>".join([blocks[0], big, blocks[2]]) + "</REUTERS>\n", "latin-1")
    check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT))[:3])


def test_feed_oversized_entry(tmp_path: Path):
    items = "".join(
        f"<item><title>T{i}</title><link>https://x.org/{i}</link>"
        f"<description>{'d ' * BIG if i == 1 else 'Text.'}</description></item>"
        for i in range(3)
    )
    path = tmp_path / "f.xml"
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'
    )
    check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)))


def test_warc_oversized_payload(tmp_path: Path):
    path = tmp_path / "c.warc"
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        for i, size in enumerate((10, BIG, 10)):
            html = f"<html><head><title>T{i}</title></head><body><p>{'p ' * size}</p></body></html>"
            writer.write_record(
                writer.create_warc_record(
                    f"https://x.org/{i}",
                    "response",
                    payload=io.BytesIO(html.encode()),
                    http_headers=StatusAndHeaders(
                        "200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"
                    ),
                )
            )
    check_middle_is_oversized(list(read_dump(path, max_record_bytes=LIMIT)))


def test_text_file_oversized(tmp_path: Path):
    path = tmp_path / "001.txt"
    path.write_text("Title\n\n" + "Paragraph. " * BIG)
    (reject,) = read_dump(path, format="text", max_record_bytes=LIMIT)
    assert reject.reason_code == RejectReason.OVERSIZED
    assert f"is {path.stat().st_size:,} bytes" in reject.reason


def test_the_bound_comes_from_the_config_and_is_validated(tmp_path: Path):
    assert IngestConfig().max_record_bytes == DEFAULT_MAX_RECORD_BYTES == 10 * 1024 * 1024
    for bad in (0, 1023, 2 * 1024**3):
        with pytest.raises(ConfigError, match="ingest.max_record_bytes"):
            IngestConfig(max_record_bytes=bad)
    config = tmp_path / "n.toml"
    config.write_text("[ingest]\nmax_record_bytes = 2048\n")
    from etl.config import load_settings

    assert load_settings(config).ingest.max_record_bytes == 2048
    config.write_text('[ingest]\nmax_record_bytes = "10MB"\n')
    with pytest.raises(ConfigError, match="ingest.max_record_bytes must be int"):
        load_settings(config)


def test_ingest_applies_the_configured_bound(sqlite_url: str, tmp_path: Path):
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine

    path = tmp_path / "d.jsonl"
    from tests.conftest import story

    path.write_text("\n".join(json.dumps(article(i, story(i, 1000 if i == 1 else 50))) for i in range(3)))
    engine = make_engine(sqlite_url)
    try:
        settings = Settings(ingest=IngestConfig(max_record_bytes=2048, workers=0))
        summary = run_ingest(engine, [str(path)], settings=settings, source="s")
    finally:
        engine.dispose()
    assert (summary.totals.records, summary.totals.articles, summary.totals.rejects) == (3, 2, 1)
