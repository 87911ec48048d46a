"""Reader for news feeds: RSS 2.0, RSS 1.0 (RDF) and Atom, parsed by feedparser.

One ``RawRecord`` per entry. The body is the entry's first non-empty ``content``
(Atom ``<content>``, RSS ``<content:encoded>``) or else its ``summary``
(``<description>``), turned from HTML into plain paragraphs; when the body came
from ``content`` the summary becomes the ``description``. An entry without any
text keeps ``body == ""`` so that normalisation rejects it as missing its body.

Why a small HTML-to-text converter of our own (:func:`html_to_text`) and not
trafilatura: feed HTML is already the article (or its teaser), not a page with
navigation to strip. Trafilatura is built to find the main content of a whole
page; given a short snippet it may keep nothing (it has minimum sizes and
boilerplate heuristics) and it costs milliseconds per entry. The converter only
has to turn block elements into paragraph breaks ("\\n\\n"), ``<br>`` into a
line break, and drop scripts and styles (feedparser's sanitiser removes those
already). The WARC reader, which gets whole pages, does use trafilatura.

Feeds are small, so a member is read whole, up to :data:`MAX_FEED_BYTES`; a
bigger one is refused with one reject. (XML has to be parsed whole, so the
record bound cannot stop an entry before it is read.) An entry whose text is
larger than ``max_record_bytes`` becomes one ``OVERSIZED`` reject. feedparser gets the bytes wrapped in a
stream: given a bare string it may treat it as a URL or a file name.
"""

from __future__ import annotations

import io
import re
import xml.sax
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, BinaryIO

import feedparser

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject
from etl.records import RAW_EXCERPT_CHARS, RawRecord, RecordFields, Reject, RejectReason

FORMAT = "feed"
MAX_FEED_BYTES = 64 * 1024 * 1024

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_feed(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield one ``RawRecord`` per feed entry, or a single ``Reject`` for an unusable feed."""
    data = stream.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        yield Reject(
            f"{location}#0",
            0,
            RejectReason.UNSUPPORTED,
            f"{location} is larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB, too big for a feed; "
            "split it or read it with another format.",
            data[:RAW_EXCERPT_CHARS].decode("utf-8", errors="replace"),
        )
        return
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True)
    if parsed.bozo and not parsed.entries:
        yield Reject(
            f"{location}#0",
            0,
            RejectReason.MALFORMED,
            f"{location} is not a well-formed feed and no entry could be recovered: "
            f"{_bozo_message(parsed.get('bozo_exception'))}",
            data[:RAW_EXCERPT_CHARS].decode("utf-8", errors="replace"),
        )
        return
    feed = parsed.feed
    is_rss = str(parsed.get("version", "")).startswith("rss")
    for ordinal, entry in enumerate(parsed.entries):
        fields, raw = entry_fields(entry, feed, is_rss)
        size = sum(len(str(v).encode("utf-8", "surrogatepass")) for v in fields.values() if v)
        if size > max_record_bytes:
            what = f"Entry {ordinal} of {location}"
            yield oversized_reject(f"{location}#{ordinal}", ordinal, what, size, max_record_bytes, raw)
            continue
        yield RawRecord(f"{location}#{ordinal}", ordinal, FORMAT, fields, raw=raw)


def entry_fields(entry: Any, feed: Any, is_rss: bool = False) -> tuple[RecordFields, str]:
    """Canonical fields of one feedparser entry, and a raw excerpt for rejects."""
    content = next((c for c in entry.get("content", []) if (c.get("value") or "").strip()), None)
    summary = entry.get("summary_detail") or (
        {"type": "text/html", "value": entry["summary"]} if entry.get("summary") else None
    )
    summary_text = _detail_text(summary)
    if content is not None:
        body, source, description = _detail_text(content), content, summary_text
        if description == body:  # feedparser copies content into summary when there is none
            description = ""
    else:
        body, source, description = summary_text, summary, ""
    url = entry.get("link") or (entry.get("id") if _is_url(entry.get("id")) else None)
    # No source_domain: the warehouse has no column for it and the url carries the host.
    fields: RecordFields = {
        "title": _detail_text(entry.get("title_detail")) or entry.get("title") or "",
        "body": body,
        "url": url,
        "published": _date(entry, "published") or _date(entry, "updated"),
        "language": (source or {}).get("language") or feed.get("language"),
        "authors": _authors(entry, is_rss),
        "description": description or None,
    }
    raw = (source or {}).get("value") or f"{fields['title']} {url or ''}".strip()
    return fields, raw[:RAW_EXCERPT_CHARS]


def _detail_text(detail: Any) -> str:
    """Plain text of a feedparser text construct (``{"type": ..., "value": ...}``)."""
    if not detail:
        return ""
    value = detail.get("value") or ""
    if detail.get("type", "text/html") in _HTML_TYPES:
        return html_to_text(value)
    return value.strip()


def _date(entry: Any, key: str) -> str | None:
    """The entry's date string as written, when it is ISO-8601 or RFC 2822.

    Other spellings (feedparser knows many: W3C-DTF variants, Korean, Greek...) are
    replaced by feedparser's own parse, as ISO-8601 UTC. A value nobody can parse
    is passed on unchanged, so normalisation rejects it with the value quoted.
    """
    text = (entry.get(key) or "").strip()
    if not text:
        return None
    if _parses(text):
        return text
    parsed = entry.get(f"{key}_parsed")
    if parsed:
        return datetime(*parsed[:6], tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return text


def _parses(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        pass
    try:
        parsedate_to_datetime(text)
        return True
    except (TypeError, ValueError, IndexError):
        return False


_EMAIL_THEN_NAME = re.compile(r"\s*\S+@\S+\s*\((?P<name>[^)]*)\)\s*")
_NAME_THEN_EMAIL = re.compile(r"\s*(?P<name>[^<]*?)\s*<\s*\S+@\S+\s*>\s*")
_EMAIL_ONLY = re.compile(r"\s*(?:mailto:)?\S+@\S+\.\S+\s*")


def _authors(entry: Any, is_rss: bool) -> list[str]:
    """Author names; e-mail addresses are dropped (they are not names).

    RSS ``<author>`` holds ``email (Name)``. feedparser splits it with an e-mail
    pattern that only knows top-level domains of 2-4 letters, so
    ``desk@paper.news (Desk)`` comes out intact but ``desk@paper.example (Desk)``
    as the name ``ple (Desk``. For the usual single RSS author the string as
    written is split here instead.
    """
    details = entry.get("authors") or []
    if is_rss and len(details) <= 1 and entry.get("author"):
        names = [_author_name(entry["author"])]
    else:
        names = [(d.get("name") or "").strip() for d in details]
    return [name for name in names if name]


def _author_name(text: str) -> str:
    for pattern in (_EMAIL_THEN_NAME, _NAME_THEN_EMAIL):
        match = pattern.fullmatch(text)
        if match:
            return match["name"].strip()
    return "" if _EMAIL_ONLY.fullmatch(text) else text.strip()


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _bozo_message(exc: BaseException | None) -> str:
    """feedparser's complaint as a sentence fragment, with line and column for XML errors."""
    if exc is None:
        return "feedparser flagged it as malformed"
    if isinstance(exc, xml.sax.SAXParseException):
        return f"{exc.getMessage()} at line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
    return f"{type(exc).__name__}: {exc}"


# --- HTML to plain text ------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP_TAGS = frozenset(
    ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head", "title"]
)
_INLINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")


class _TextCollector(HTMLParser):
    """Collects text, starting a new paragraph at every block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._current.append("\n")
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._current.append("\n")
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data if self._pre else _INLINE_SPACE.sub(" ", data))

    def flush(self) -> None:
        lines = "".join(self._current).split("\n")
        text = "\n".join(line.strip() for line in lines if line.strip())
        if text:
            self.paragraphs.append(text)
        self._current = []


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: paragraphs separated by a blank line.

    Block elements (``p``, ``div``, headings, list items, table rows...) end a
    paragraph, ``<br>`` ends a line inside one, runs of whitespace collapse to one
    space (except in ``<pre>``), and scripts and styles are dropped. Text with no
    markup at all comes back with its whitespace collapsed per line.

    >>> html_to_text("<p>One &amp; two</p><p>Three<br>four</p>")
    'One & two\\n\\nThree\\nfour'
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    collector.flush()
    return "\n\n".join(collector.paragraphs)


# --- format detection --------------------------------------------------------------------

_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*", re.DOTALL)
_ROOT = re.compile(rb"<(?:(?P<prefix>[\w.-]+):)?(?P<name>rss|feed|RDF)\b(?P<attrs>[^>]*)")
_ATOM_NAMESPACES = (b"http://www.w3.org/2005/Atom", b"http://purl.org/atom/ns#")


def _sniff(head: bytes) -> bool:
    """The root element is ``<rss>``, an Atom ``<feed>`` or ``<rdf:RDF>`` (RSS 1.0).

    Whitespace, an XML declaration, processing instructions, comments and a
    doctype may come first. UTF-16 heads (with a BOM) are looked at as UTF-8.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    match = _ROOT.match(head, _PROLOG.match(head).end())
    if not match:
        return False
    name = match["name"]
    if name == b"rss":
        return True
    if name == b"RDF":
        return match["prefix"] == b"rdf"
    if name == b"feed":
        return any(ns in match["attrs"] for ns in _ATOM_NAMESPACES)
    return False


SPEC = FormatSpec(FORMAT, read_feed, (".rss", ".atom", ".xml"), _sniff)
