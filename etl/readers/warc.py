"""Reader for WARC files (CC-NEWS and other crawls), via warcio; ARC files too.

Only ``response`` records are articles: ``warcinfo``, ``request``, ``metadata``,
``revisit`` and ``resource`` records are skipped and not counted. A response
becomes a ``RawRecord`` when it is an HTTP 200 with an HTML payload; any other
response is one ``Reject`` (``UNSUPPORTED``) saying what it was, because it was
crawled and then not used, and the count of rejects shows that.

The main text is extracted with trafilatura (precision over recall, comments
left out) and rebuilt from its element tree so that paragraphs are separated by
a blank line and ``<br>`` stays a line break inside one; trafilatura's own
``txt`` output puts a single newline between paragraphs and for ``<br>`` alike.
A heading that only repeats the title is left out of the body. HTML from which
nothing can be extracted gives ``body == ""``; normalisation rejects it as
missing its body. Title, date, authors, description and language come from
trafilatura's metadata; the date falls back on ``WARC-Date`` (the crawl time),
the title on ``<title>``. trafilatura is only ever given the page's text, never
asked to fetch anything.

Damage is reported, not papered over: a record that fails its WARC digest is
one ``UNREADABLE`` reject; a record cut short, without a Content-Length, or not
followed by the blank line its Content-Length promises stops the member.

warcio reads plain and per-record gzipped WARC alike, so a ``.warc.gz`` may come
here still compressed or already decompressed by the container layer. A record
it cannot parse stops the member with a ``ValueError``, which
:func:`etl.readers.read_dump` turns into one reject after the records read.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject, skip_rest
from etl.readers.encoding import decode_bytes
from etl.records import RAW_EXCERPT_CHARS, RawRecord, RecordFields, Reject, RejectReason

FORMAT = "warc"
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
BLOCK_BYTES = 64 * 1024
# Dates from markup only (meta tags, JSON-LD, <time>, the URL), not guessed from free text.
DATE_PARAMS = {"extensive_search": False, "original_date": True, "outputformat": DATE_FORMAT}


class CorruptWarc(ValueError):
    """A WARC/ARC file damaged at some record; the records after it cannot be trusted."""


def read_warc(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield one ``RawRecord`` or ``Reject`` per ``response`` record of a WARC or ARC file.

    warcio is lenient: it drops a record cut off in its headers, yields one cut
    off in its payload, and only warns when a Content-Length is wrong. Each of
    those is turned into :class:`CorruptWarc` here, so that a damaged file is
    reported (one reject after the records read) instead of silently losing or
    garbling records.
    """
    archive = ArchiveIterator(stream, arc2warc=True, check_digests=True)
    records = iter(archive)
    ordinal = 0
    while True:
        warnings = archive.err_count
        try:
            record = next(records)
        except StopIteration:
            break
        except Exception as exc:  # warcio raises many types on damaged input
            detail = str(exc) if len(str(exc)) <= 200 else f"{str(exc)[:200]}..."
            raise CorruptWarc(
                f"unreadable WARC record at byte {archive.offset}: {type(exc).__name__}: {detail}"
            ) from exc
        _check_aligned(archive, warnings)
        item = (
            _response(record, f"{location}#{ordinal}", ordinal, max_record_bytes)
            if record.rec_type == "response"
            else None
        )
        _check_complete(record)
        if item is not None:
            yield _check_digest(record, item)
            ordinal += 1
    _check_aligned(archive, warnings)
    _check_end(archive, stream)


def _check_aligned(archive: ArchiveIterator, warnings: int) -> None:
    """warcio counts records not followed by a blank line (a wrong Content-Length)."""
    if archive.err_count > warnings:
        raise CorruptWarc(
            f"a WARC record ending near byte {archive.offset} is not followed by a blank line: "
            "its Content-Length is wrong or the file is damaged"
        )


def _check_complete(record: Any) -> None:
    """Read the record to its end and fail when it has fewer bytes than its Content-Length."""
    headers = record.rec_headers
    if record.length is None or (record.format == "warc" and not headers.get_header("Content-Length")):
        raise CorruptWarc(
            f"the {record.rec_type} record {headers.get_header('WARC-Record-ID')} has no valid "
            "Content-Length: its headers are damaged"
        )
    raw = record.raw_stream
    while raw.read(BLOCK_BYTES):
        pass
    missing = getattr(raw, "limit", 0)
    if missing > 0:
        uri = headers.get_header("WARC-Target-URI") or headers.get_header("WARC-Record-ID")
        raise CorruptWarc(
            f"the {record.rec_type} record for {uri} is truncated: {missing} byte(s) of its "
            f"Content-Length {record.length} are missing"
        )


def _check_digest(record: Any, item: RawRecord | Reject) -> RawRecord | Reject:
    """A response whose WARC digests do not match its bytes becomes an ``UNREADABLE`` reject."""
    checker = record.digest_checker
    if checker.passed is not False:  # None: no digest in the record, True: it matches
        return item
    uri = record.rec_headers.get_header("WARC-Target-URI")
    return Reject(
        item.locator,
        item.ordinal,
        RejectReason.UNREADABLE,
        f"The response record for {uri} does not match its WARC digest ({'; '.join(checker.problems)}): "
        "it was damaged in storage or transfer.",
        item.raw,
    )


def _check_end(archive: ArchiveIterator, stream: BinaryIO) -> None:
    """Fail when bytes are left after the last complete record (a record cut off in its headers)."""
    consumed = archive.fh.tell()
    if archive.offset < consumed or stream.read(1):
        raise CorruptWarc(
            f"the data from byte {archive.offset} on is not a complete WARC record; "
            "the file is truncated or damaged"
        )


def _response(
    record: Any, locator: str, ordinal: int, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> RawRecord | Reject:
    """One ``response`` record as an article, or a reject saying why it is none."""
    uri = record.rec_headers.get_header("WARC-Target-URI") or "(no WARC-Target-URI)"
    http = record.http_headers
    if http is None:
        return _unsupported(locator, ordinal, f"The response for {uri} has no HTTP headers.")
    status = http.get_statuscode()
    if status != "200":
        status = status if status and status.isdigit() else f"response with status line {http.statusline!r},"
        return _unsupported(locator, ordinal, f"HTTP {status} response for {uri}.")
    content_type = http.get_header("Content-Type") or ""
    if "html" not in content_type.lower():
        media = content_type.split(";")[0].strip() or "untyped"
        return _unsupported(locator, ordinal, f"{media} payload for {uri}, not HTML.")
    limit = min(MAX_PAYLOAD_BYTES, max_record_bytes)
    content = record.content_stream()
    payload = content.read(limit + 1)
    if len(payload) > limit:
        size = len(payload) + skip_rest(content)
        return oversized_reject(locator, ordinal, f"The HTML payload for {uri}", size, limit, payload)
    html = decode_html(payload, content_type)
    fields = extract_article(html, uri if uri.startswith(("http://", "https://")) else None)
    fields["url"] = uri
    fields["published"] = fields["published"] or record.rec_headers.get_header("WARC-Date")
    return RawRecord(locator, ordinal, FORMAT, fields, raw=html[:RAW_EXCERPT_CHARS])


def _unsupported(locator: str, ordinal: int, reason: str) -> Reject:
    return Reject(locator, ordinal, RejectReason.UNSUPPORTED, reason)


# --- decoding and extraction -------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)


def decode_html(payload: bytes, content_type: str = "") -> str:
    """Decode an HTML payload: the HTTP charset, else a ``<meta>`` charset, else a guess.

    A declared charset that is unknown or does not fit the bytes is ignored and
    :func:`etl.readers.encoding.decode_bytes` (UTF-8, cp1252, Latin-1) decides.
    """
    declared = _HEADER_CHARSET.search(content_type)
    candidates = [declared[1]] if declared else []
    meta = _META_CHARSET.search(payload[:4096])
    if meta:
        candidates.append(meta[1].decode("ascii", errors="ignore"))
    for name in candidates:
        try:
            codec = codecs.lookup(name).name
            return payload.decode(codec).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError):
            continue
    return decode_bytes(payload)[0]


def extract_article(html: str, url: str | None = None) -> RecordFields:
    """Title, body and metadata of one HTML page, by trafilatura.

    Keys are the canonical field names; ``body`` is ``""`` when trafilatura finds
    no main text, and the title then comes from ``<title>``.
    """
    import trafilatura  # heavy import (lxml, htmldate, justext): only when WARC files are read

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        include_comments=False,
        favor_precision=True,
        with_metadata=True,
        date_extraction_params=DATE_PARAMS,
    )
    if doc is None:
        return {
            "title": _html_title(html),
            "body": "",
            "published": None,
            "language": None,
            "authors": [],
            "description": None,
        }
    title = (doc.title or "").strip() or _html_title(html)
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return {
        "title": title,
        "body": tree_text(doc.body, title) if doc.body is not None else (doc.text or ""),
        "published": doc.date or None,
        "language": doc.language or _html_lang(html),
        "authors": authors,
        "description": doc.description or None,
    }


_LINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")


def tree_text(body: Any, title: str = "") -> str:
    """Paragraphs of trafilatura's output tree, separated by a blank line.

    Each child of the tree (``p``, ``head``, ``quote``...) is one paragraph, each
    list item and table row too; ``<lb/>`` is a line break inside a paragraph. A
    leading heading equal to the title is dropped.
    """
    paragraphs: list[str] = []
    for child in body:
        if child.tag in ("list", "table"):
            rows = child.iter("item") if child.tag == "list" else child.iter("row")
            paragraphs.extend(_inline_text(row) for row in rows)
        else:
            paragraphs.append(_inline_text(child))
    paragraphs = [p for p in paragraphs if p]
    if paragraphs and title and _LINE_SPACE.sub(" ", paragraphs[0]) == _LINE_SPACE.sub(" ", title):
        paragraphs = paragraphs[1:]
    return "\n\n".join(paragraphs)


def _inline_text(element: Any) -> str:
    """Text of an element with ``<lb/>`` as a line break and other whitespace collapsed."""
    parts: list[str] = []

    def walk(el: Any) -> None:
        if el.tag == "lb":
            parts.append("\n")
        elif el.tag == "cell" and parts:
            parts.append(" ")
        if el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    lines = (_LINE_SPACE.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


class _HeadScanner(HTMLParser):
    """The ``<title>`` text and the ``<html lang>`` attribute of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.lang: str | None = None
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html" and self.lang is None:
            self.lang = dict(attrs).get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)


def _scan_head(html: str) -> _HeadScanner:
    scanner = _HeadScanner()
    for start in range(0, min(len(html), 256 * 1024), 8192):  # the head is near the top
        scanner.feed(html[start : start + 8192])
        if scanner.done:
            break
    return scanner


def _html_title(html: str) -> str:
    return _LINE_SPACE.sub(" ", "".join(_scan_head(html).title)).strip()


def _html_lang(html: str) -> str | None:
    return (_scan_head(html).lang or "").strip() or None


# --- format detection --------------------------------------------------------------------


def _sniff(head: bytes) -> bool:
    """A WARC record (``WARC/1.x``) or an ARC file header, plain or gzipped."""
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 64)
        except zlib.error:
            return False
    return head.startswith((b"WARC/", b"filedesc://"))


SPEC = FormatSpec(FORMAT, read_warc, (".warc", ".warc.gz", ".arc", ".arc.gz"), _sniff)
