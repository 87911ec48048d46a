"""WARC reader: response records to articles, rejects for the rest, damaged files, detection.

The WARC files are built here with warcio's own writer: a warcinfo record, a
request, two article pages (HTTP 200, HTML with navigation and a footer), a 404
and a PDF, plain and gzipped per record.
"""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.readers.warc import SPEC, CorruptWarc, extract_article, read_warc
from etl.records import Article, RawRecord, Reject, RejectReason

NAV = "Home World Politics Sport Weather Subscribe"
FOOTER = "Copyright 2024 The Valley Times. All rights reserved."

DAM_PARAGRAPHS = [
    "The regional water board approved a plan on Tuesday to raise the height of the Oldbridge dam by "
    "four metres, a project that engineers say will secure drinking water for another 200,000 "
    "residents by 2030.",
    "The decision followed two years of public hearings in which farmers downstream argued that the "
    "higher reservoir would flood grazing land and cut off a road used by school buses.",
    "Board chair Helen Marsh said the final design moves the access road uphill and compensates "
    'landowners at market rates. "We listened, and the plan is better for it," she told reporters '
    "after the vote.",
    "Construction is expected to start next spring and to last about three years. The board will "
    "publish the tender documents in the coming weeks, and local contractors will be invited to bid.",
]
MARKET_PARAGRAPHS = [
    "Stallholders at the covered market in Eastgate reported their busiest Saturday in a decade after "
    "the council waived pitch fees for the first weekend of the spring season.",
    "More than forty traders sold produce, cheese and flowers, and several said they had run out of "
    "stock before noon as queues stretched along the high street.",
    "The council will decide next month whether to repeat the scheme during the summer holidays, a "
    "spokesperson said, adding that parking had been the main complaint from visitors.",
]


def article_html(title: str, paragraphs: list[str], meta: str = "") -> str:
    body = "\n".join(f"      <p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} | The Valley Times</title>
  {meta}
</head>
<body>
  <nav class="site-nav"><ul>
    {"".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in NAV.split())}
  </ul></nav>
  <header class="masthead"><a href="/">The Valley Times</a></header>
  <main>
    <article>
      <h1>{title}</h1>
      <div class="byline">By Ruth Okafor</div>
{body}
    </article>
    <aside class="related"><h3>Related</h3><ul><li><a href="/a">Flood defences delayed</a></li></ul></aside>
  </main>
  <footer><p>{FOOTER}</p><a href="/privacy">Privacy policy</a> <a href="/contact">Contact us</a></footer>
</body>
</html>
"""


DAM_HTML = article_html(
    "Dam plan approved",
    DAM_PARAGRAPHS,
    '<meta name="author" content="Ruth Okafor">\n'
    '  <meta property="article:published_time" content="2024-03-05T07:45:00+01:00">\n'
    '  <meta name="description" content="Oldbridge dam to be raised by four metres.">',
)
MARKET_HTML = article_html("Market has busiest day in a decade", MARKET_PARAGRAPHS)
DAM_URL = "https://www.valleytimes.example/news/2024/03/dam-plan"
MARKET_URL = "https://www.valleytimes.example/news/market-day"


def http(status: str, content_type: str) -> StatusAndHeaders:
    return StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")


def write_warc(path: Path, gzipped: bool = False) -> Path:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gzipped)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "newsetl tests"}))

        def response(uri: str, payload: bytes, status: str, ctype: str, date: str) -> None:
            writer.write_record(
                writer.create_warc_record(
                    uri,
                    "response",
                    payload=io.BytesIO(payload),
                    http_headers=http(status, ctype),
                    warc_headers_dict={"WARC-Date": date},
                )
            )

        request = StatusAndHeaders(
            "GET /news/2024/03/dam-plan HTTP/1.1", [("Host", "x")], is_http_request=True
        )
        writer.write_record(writer.create_warc_record(DAM_URL, "request", http_headers=request))
        response(DAM_URL, DAM_HTML.encode(), "200 OK", "text/html; charset=utf-8", "2024-03-06T10:00:00Z")
        response(MARKET_URL, MARKET_HTML.encode(), "200 OK", "text/html", "2024-03-09T18:30:00Z")
        response(
            "https://www.valleytimes.example/missing",
            b"<html>Not found</html>",
            "404 Not Found",
            "text/html",
            "2024-03-09T18:31:00Z",
        )
        response(
            "https://www.valleytimes.example/report.pdf",
            b"%PDF-1.4 ...",
            "200 OK",
            "application/pdf",
            "2024-03-09T18:32:00Z",
        )
    return path


@pytest.fixture(params=[False, True], ids=["warc", "warc.gz"])
def warc_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    gzipped = request.param
    return write_warc(tmp_path / ("crawl.warc.gz" if gzipped else "crawl.warc"), gzipped)


def test_counts_and_kinds(warc_file: Path):
    records = list(read_dump(warc_file))
    # warcinfo and request records are skipped and not counted
    assert [type(r) for r in records] == [RawRecord, RawRecord, Reject, Reject]
    assert [r.ordinal for r in records] == [0, 1, 2, 3]
    assert [r.locator for r in records] == [f"{warc_file}#{i}" for i in range(4)]


def test_article_fields(warc_file: Path):
    dam, market = (r.fields for r in list(read_dump(warc_file))[:2])
    assert dam["url"] == DAM_URL
    assert dam["title"] == "Dam plan approved"
    assert dam["published"] == "2024-03-05T07:45:00+0100"  # from the page, not the crawl date
    assert dam["authors"] == ["Ruth Okafor"]
    assert dam["description"] == "Oldbridge dam to be raised by four metres."
    assert "source_domain" not in dam
    assert dam["language"] == "en"
    assert market["title"] == "Market has busiest day in a decade"
    assert market["published"] == "2024-03-09T18:30:00Z"  # no date in the page: WARC-Date


def test_body_is_the_article_paragraphs_only(warc_file: Path):
    dam, market = (r.fields["body"] for r in list(read_dump(warc_file))[:2])
    assert dam.split("\n\n") == DAM_PARAGRAPHS
    assert market.split("\n\n") == MARKET_PARAGRAPHS
    for body in (dam, market):
        assert "Subscribe" not in body and "Politics" not in body  # navigation
        assert FOOTER not in body and "Privacy policy" not in body  # footer
        assert "Dam plan approved" not in body  # the heading repeating the title


def test_reject_reasons(warc_file: Path):
    not_found, pdf = list(read_dump(warc_file))[2:]
    assert not_found.reason_code is RejectReason.UNSUPPORTED
    assert not_found.reason == "HTTP 404 response for https://www.valleytimes.example/missing."
    assert pdf.reason_code is RejectReason.UNSUPPORTED
    assert pdf.reason == "application/pdf payload for https://www.valleytimes.example/report.pdf, not HTML."


def test_end_to_end_through_normalize(warc_file: Path):
    results = list(normalize_all(read_dump(warc_file), "valley-times"))
    assert [type(r) for r in results] == [Article, Article, Reject, Reject]
    dam = results[0]
    assert dam.published_at.isoformat() == "2024-03-05T06:45:00+00:00"
    assert dam.url == DAM_URL and dam.title == "Dam plan approved"
    assert dam.body.count("\n\n") == len(DAM_PARAGRAPHS) - 1


def test_html_without_text_gives_empty_body_rejected_by_normalize(tmp_path: Path):
    path = tmp_path / "empty.warc"
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        html = b"<html><head><title>Gallery</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
        writer.write_record(
            writer.create_warc_record(
                "https://x.example/gallery",
                "response",
                payload=io.BytesIO(html),
                http_headers=http("200 OK", "text/html"),
            )
        )
    (record,) = read_dump(path)
    assert record.fields["body"] == "" and record.fields["title"] == "Gallery"
    (reject,) = normalize_all([record], "x")
    assert reject.reason_code is RejectReason.MISSING_BODY


def test_container_already_decompressed(tmp_path: Path):
    """A .warc.gz handed over decompressed (by the container layer) reads the same."""
    packed = write_warc(tmp_path / "crawl.warc.gz", gzipped=True)
    with gzip.open(packed, "rb") as stream:
        records = list(read_warc(io.BufferedReader(stream), "mem"))
    assert [type(r) for r in records] == [RawRecord, RawRecord, Reject, Reject]


@pytest.mark.parametrize("gzipped", [False, True], ids=["warc", "warc.gz"])
@pytest.mark.parametrize("cut", [0.4, 0.75, 0.9])
def test_damaged_file_keeps_records_before_the_damage(tmp_path: Path, gzipped: bool, cut: float):
    """Through read_dump: one UNREADABLE reject after the records read before the damage.

    A ``.warc.gz`` may be decompressed by the container layer, which then reports
    the truncation itself (EOFError) as soon as warcio's block read reaches it.
    """
    full = write_warc(tmp_path / "full.warc", gzipped).read_bytes()
    path = tmp_path / ("cut.warc.gz" if gzipped else "cut.warc")
    path.write_bytes(full[: int(len(full) * cut)])
    *kept, last = list(read_dump(path))
    assert last.reason_code is RejectReason.UNREADABLE
    assert f"{path} is truncated or corrupt" in last.reason
    assert last.ordinal == len(kept)
    complete = list(read_dump(write_warc(tmp_path / "again.warc", gzipped)))
    assert [type(r) for r in kept] == [type(r) for r in complete[: len(kept)]]
    if not gzipped:
        assert "CorruptWarc" in last.reason


@pytest.mark.parametrize("gzipped", [False, True], ids=["warc", "warc.gz"])
@pytest.mark.parametrize(("cut", "kept"), [(0.4, 1), (0.75, 2), (0.9, 2)])
def test_reader_raises_after_the_records_before_the_damage(
    tmp_path: Path, gzipped: bool, cut: float, kept: int
):
    """read_warc itself on still-compressed (per-record gzip) and plain data."""
    full = write_warc(tmp_path / "full.warc", gzipped).read_bytes()
    items = []
    with pytest.raises(CorruptWarc, match="truncated|not a complete WARC record|unreadable WARC record"):
        for item in read_warc(io.BytesIO(full[: int(len(full) * cut)]), "mem"):
            items.append(item)
    assert len(items) >= kept - 1 and all(isinstance(i, RawRecord) for i in items)


def test_garbage_in_the_middle_is_reported(tmp_path: Path):
    full = write_warc(tmp_path / "full.warc.gz", gzipped=True).read_bytes()
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(full[: len(full) // 2] + b"\x00garbage\x00" * 10 + full[len(full) // 2 :])
    records = list(read_dump(path))
    assert records[-1].reason_code is RejectReason.UNREADABLE
    assert len(records) < 5


def test_detect_format_by_extension_and_content(tmp_path: Path):
    plain = write_warc(tmp_path / "a.warc").read_bytes()
    packed = write_warc(tmp_path / "a.warc.gz", gzipped=True).read_bytes()
    assert detect_format("a.warc", plain[:65536]) == "warc"
    assert detect_format("a.warc.gz", packed[:65536]) == "warc"
    assert detect_format("download.bin", plain[:65536]) == "warc"  # by content
    assert detect_format("download.bin", packed[:65536]) == "warc"  # gzip magic, then WARC/
    assert SPEC.sniff(b"filedesc://crawl.arc 0.0.0.0 20240101000000 text/plain 76\n")
    assert not SPEC.sniff(gzip.compress(b'{"title": "not a warc"}\n'))
    assert not SPEC.sniff(b"<html>WARC/1.0</html>")


def test_extraction_cost_per_page():
    """Not a benchmark: a guard that extraction stays in the milliseconds per page."""
    extract_article(DAM_HTML, DAM_URL)  # warm-up (imports, caches)
    start = time.perf_counter()
    for _ in range(20):
        extract_article(DAM_HTML, DAM_URL)
    per_page = (time.perf_counter() - start) / 20
    assert per_page < 0.5


def test_payload_that_fails_its_digest_is_rejected(tmp_path: Path):
    path = write_warc(tmp_path / "flipped.warc")
    data = path.read_bytes()
    assert data.count(b"by four metres, a project") == 1
    path.write_bytes(
        data.replace(b"by four metres, a project", b"by four metres, a prozect")
    )  # same length, other bytes
    records = list(read_dump(path))
    assert [type(r) for r in records] == [Reject, RawRecord, Reject, Reject]
    assert records[0].reason_code is RejectReason.UNREADABLE
    assert records[0].reason.startswith(f"The response record for {DAM_URL} does not match its WARC digest")
