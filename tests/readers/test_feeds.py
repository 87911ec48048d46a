"""Feed reader: RSS 2.0 and Atom entries, HTML to paragraphs, malformed feeds, detection."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.readers.feeds import MAX_FEED_BYTES, SPEC, html_to_text, read_feed
from etl.records import Article, RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
RSS = FIXTURES / "feed-rss2.xml"
ATOM = FIXTURES / "feed-atom.xml"


def read_bytes(data: bytes) -> list[RawRecord | Reject]:
    return list(read_feed(io.BytesIO(data), "mem"))


def test_rss_items_and_fields():
    records = list(read_dump(RSS))
    assert [type(r) for r in records] == [RawRecord] * 3
    assert [r.locator for r in records] == [f"{RSS}#{i}" for i in range(3)]
    first = records[0].fields
    assert first["title"] == "Ferry service to resume after winter repairs"
    assert first["url"] == "https://www.harbourgazette.example/news/ferry-service-resumes"
    assert first["published"] == "Fri, 12 Apr 2024 09:30:00 +0100"
    assert "source_domain" not in first
    assert first["language"] == "en-gb"
    assert first["authors"] == ["Maria Lind"]
    assert first["description"] == "The island ferry returns on Monday after three months in dry dock."
    assert records[0].format == "feed"


def test_rss_html_content_becomes_paragraphs():
    body = list(read_dump(RSS))[0].fields["body"]
    assert body == (
        "The island ferry will return to service on Monday after spending three months in dry dock, "
        "the harbour authority said on Thursday.\n\n"
        "Engineers replaced both propeller shafts and & refitted the passenger lounge, which had been "
        "closed since a storm damaged its windows in December.\n\n"
        "Timetable\n\n"
        "Crossings will run every two hours from 6am,\nwith a late sailing on Fridays.\n\n"
        "First sailing: 06:00\n\n"
        "Last sailing: 22:00"
    )
    assert "trackPageView" not in body


def test_rss_summary_only_item_and_author_with_email():
    second = list(read_dump(RSS))[1].fields
    assert (
        second["body"] == "The town library will open until 8pm on weekdays from May, the council announced."
    )
    assert second["description"] is None  # the summary is the body
    # feedparser alone would give "ple (News Desk" for an e-mail with a long top-level domain
    assert second["authors"] == ["News Desk"]
    assert second["published"] == "Thu, 11 Apr 2024 16:00:00 GMT"


def test_rss_item_without_text_has_empty_body_and_is_rejected_by_normalize():
    third = list(read_dump(RSS))[2]
    assert third.fields["body"] == ""
    assert third.fields["title"] == "Photo gallery: spring regatta"
    results = list(normalize_all(read_dump(RSS), "harbour"))
    assert [type(r) for r in results] == [Article, Article, Reject]
    assert results[2].reason_code is RejectReason.MISSING_BODY
    assert "Photo gallery: spring regatta" in results[2].reason


def test_atom_entries():
    records = list(read_dump(ATOM))
    assert [type(r) for r in records] == [RawRecord] * 2
    first, second = (r.fields for r in records)
    assert first["title"] == "Neue Seilbahn eröffnet"
    assert first["body"] == (
        "Die neue Seilbahn verbindet seit Freitag das Dorf mit dem Gipfel.\n\n"
        "Die Fahrt dauert acht Minuten, teilte die Gemeinde mit."
    )
    assert first["description"] == "Die neue Seilbahn verbindet das Dorf mit dem Gipfel."
    assert first["url"] == "https://nachrichten.bergdorf.example/2024/seilbahn"
    assert first["published"] == "2024-04-12T08:15:00+02:00"  # published wins over updated
    assert first["authors"] == ["Jonas Berger", "Lea Huber"]
    assert first["language"] == "de"
    # no link: the id is a URL; no published: updated; xhtml summary as the body
    assert second["url"] == "https://nachrichten.bergdorf.example/2024/sperrung"
    assert second["published"] == "2024-04-11T17:45:00Z"
    assert second["body"] == (
        "Die Hauptstraße bleibt am Samstag wegen Bauarbeiten gesperrt.\n\nEine Umleitung ist ausgeschildert."
    )
    assert second["authors"] == [] and second["description"] is None


def test_atom_end_to_end_through_normalize():
    articles = list(normalize_all(read_dump(ATOM), "bergdorf"))
    assert all(isinstance(a, Article) for a in articles)
    assert articles[0].published_at.isoformat() == "2024-04-12T06:15:00+00:00"
    assert articles[0].language == "de" and articles[0].authors == ["Jonas Berger", "Lea Huber"]
    assert articles[1].url == "https://nachrichten.bergdorf.example/2024/sperrung"


def test_malformed_feed_without_entries_is_one_reject(tmp_path: Path):
    path = tmp_path / "broken.rss"
    path.write_bytes(b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Broken</title></chan')
    records = list(read_dump(path))
    assert len(records) == 1
    reject = records[0]
    assert reject.reason_code is RejectReason.MALFORMED
    assert reject.locator == f"{path}#0"
    assert reject.reason.startswith(f"{path} is not a well-formed feed and no entry could be recovered: ")
    assert "line 2" in reject.reason
    assert reject.raw.startswith("<?xml")


def test_malformed_feed_with_recoverable_entries_keeps_them():
    records = read_bytes(
        b'<rss version="2.0"><channel><item><title>Kept</title><description>Text.</description>'
    )
    assert [type(r) for r in records] == [RawRecord]
    assert records[0].fields["title"] == "Kept" and records[0].fields["body"] == "Text."


def test_empty_well_formed_feed_has_no_records():
    assert read_bytes(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>') == []


def test_oversized_feed_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("etl.readers.feeds.MAX_FEED_BYTES", 100)
    records = read_bytes(RSS.read_bytes())
    assert len(records) == 1 and records[0].reason_code is RejectReason.UNSUPPORTED
    assert "larger than" in records[0].reason
    assert MAX_FEED_BYTES == 64 * 1024 * 1024


def test_unparseable_date_falls_back_on_feedparser_then_passes_through():
    records = read_bytes(
        b'<rss version="2.0"><channel>'
        b"<item><title>a</title><description>x</description><pubDate>2024-04-12 08:15</pubDate></item>"
        b"<item><title>b</title><description>y</description><pubDate>Fri, 12 Apr 2024</pubDate></item>"
        b"<item><title>c</title><description>z</description><pubDate>someday</pubDate></item>"
        b"</channel></rss>"
    )
    dates = [r.fields["published"] for r in records]
    assert dates[0] == "2024-04-12 08:15"  # ISO with a space: kept as written
    assert dates[1] == "2024-04-12T00:00:00Z"  # RFC 2822 without time: feedparser's reading
    assert dates[2] == "someday"  # left for normalize to reject with the value quoted


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One &amp; two</p><p>Three<br/>four</p>", "One & two\n\nThree\nfour"),
        ("plain   text\n wrapped", "plain text wrapped"),
        ("<div>a <i>b</i></div><style>p{}</style><script>x()</script>c", "a b\n\nc"),
        ("<pre>keep  spaces\n  here</pre>", "keep  spaces\nhere"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str):
    assert html_to_text(html) == text


def test_detect_format_by_extension_and_content(tmp_path: Path):
    assert detect_format(RSS, RSS.read_bytes()) == "feed"
    assert detect_format(ATOM, ATOM.read_bytes()) == "feed"
    assert detect_format("news.rss", RSS.read_bytes()) == "feed"
    # by content alone, whatever the name
    assert detect_format("download.bin", ATOM.read_bytes()) == "feed"
    assert detect_format("download", b"\n<!-- c -->\n<rdf:RDF xmlns:rdf='x'>") == "feed"
    doctype = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0">'
    assert detect_format("d", doctype) == "feed"
    # an XML file that is not a feed is not taken for one
    assert not SPEC.sniff(b'<?xml version="1.0"?><feed>')  # no Atom namespace
    assert not SPEC.sniff(b"<!DOCTYPE html><html><body></body></html>")
    assert SPEC.sniff('<feed xmlns="http://www.w3.org/2005/Atom">'.encode("utf-16"))
