"""Reader for CSV/TSV article dumps with a header row.

Known layouts (any column order; names are matched case-insensitively)::

    all-the-news v1   id, title, publication, author, date, year, month, url, content
    all-the-news 2.1  date, year, month, day, author, title, article, url, section, publication
    FakeNewsCorpus    id, domain, type, url, content, scraped_at, inserted_at, updated_at,
                      title, authors, keywords, meta_keywords, meta_description, tags, summary

Columns are mapped onto the canonical field names (:data:`COLUMN_ALIASES`, first
non-empty wins); unknown columns are dropped. ``authors`` (plural, FakeNewsCorpus)
and ``tags`` are comma-separated lists; ``author`` (all-the-news) is one byline.
FakeNewsCorpus has no publication date: ``scraped_at``/``inserted_at`` say when
the crawler saw the page, not when it was published, so ``published`` stays
empty there (``scraped_at`` is kept as an extra field).

Decoding: the file is read line by line as bytes and each physical line is
decoded on its own with :func:`etl.readers.encoding.decode_bytes` (UTF-8 with
the BOM removed, else cp1252, else Latin-1). That streams, never fails, and
confines a stray Windows-1252 byte to the line that has it instead of
re-decoding a whole multi-GB file; ``fields["encoding"]`` names the fallback
when a record needed one. (A line boundary never splits a UTF-8 character.)

Big fields: a record is limited to ``max_record_bytes`` (``[ingest]``, 10 MiB by
default). Past that the rest of the record is fed to the CSV parser as its
quotes and delimiters only, so the parser stays in step and memory stays
bounded, and the record becomes an ``OVERSIZED`` reject. The stdlib
``csv.field_size_limit`` is raised above that bound (it is process-wide; it is
only ever raised).

A row with the wrong number of fields is a ``MALFORMED`` reject naming its CSV
line; a header without a body column is one ``UNSUPPORTED`` reject for the file.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject, skip_line
from etl.readers.encoding import decode_bytes
from etl.records import RawRecord, RecordFields, Reject, RejectReason

FORMAT = "csv"

# Canonical field -> column names (lowercase), first non-empty wins. The domain and publication
# columns are not read: the warehouse has no column for them (source is the configured source).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "body": ("content", "article", "text", "maintext", "body"),
    "url": ("url", "link"),
    "published": ("date", "date_publish", "published", "publish_date", "published_at", "pubdate"),
    "authors": ("authors", "author"),
    "description": ("description", "meta_description", "summary"),
    "section": ("section", "category"),
    "topics": ("tags", "topics"),
    "language": ("language", "lang"),
    "scraped_at": ("scraped_at",),
}
BODY_COLUMNS = COLUMN_ALIASES["body"]
_KNOWN_HEADER = set(BODY_COLUMNS) | set(COLUMN_ALIASES["title"])
_LIST_COLUMNS = {"authors", "tags", "topics"}  # comma-separated lists
_STRUCTURE = re.compile(rb'[^",\t\r\n]+')
PIECE = 1024 * 1024


@dataclass(slots=True)
class _Feed:
    """Bookkeeping shared by the line feeder and the row loop."""

    limit: int = DEFAULT_MAX_RECORD_BYTES
    record_bytes: int = 0
    oversized: bool = False
    encodings: set[str] = dataclasses.field(default_factory=set)


def read_csv(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield a ``RawRecord`` or ``Reject`` per data row (ordinals 0, 1, ... in file order).

    Blank rows are skipped. Messages name the 1-based CSV line where a row starts.
    """
    if csv.field_size_limit() < 2 * max_record_bytes:
        csv.field_size_limit(2 * max_record_bytes)
    first = stream.readline(max_record_bytes + 1).removeprefix(b"\xef\xbb\xbf")
    if len(first) > max_record_bytes:
        size = len(first) + skip_line(stream)[0]
        yield oversized_reject(
            f"{location}#0", 0, f"The CSV header of {location}", size, max_record_bytes, first
        )
        return
    if not first.strip():
        yield Reject(f"{location}#0", 0, RejectReason.UNSUPPORTED, f"{location} has no CSV header row.")
        return
    header_text, _ = decode_bytes(first)
    delimiter = _delimiter(header_text)
    try:
        header = next(csv.reader([header_text], delimiter=delimiter), [])
    except csv.Error as exc:  # a stray carriage return inside the line, say
        yield Reject(
            f"{location}#0",
            0,
            RejectReason.UNSUPPORTED,
            f"The CSV header of {location} cannot be parsed ({exc}); no row could be read.",
            header_text.strip(),
        )
        return
    names = [name.strip().lower() for name in header]
    columns = _columns(names)
    if "body" not in columns:
        yield Reject(
            f"{location}#0",
            0,
            RejectReason.UNSUPPORTED,
            f"The CSV header of {location} has no body column: expected one of "
            f"{', '.join(BODY_COLUMNS)}, found {', '.join(repr(n) for n in header) or 'nothing'}.",
            header_text.strip(),
        )
        return
    feed = _Feed(limit=max_record_bytes)
    reader = csv.reader(_lines(stream, feed), delimiter=delimiter)
    ordinal = 0
    last_line = 1
    while True:
        start_line = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _malformed(location, ordinal, start_line, f"it cannot be parsed as CSV: {exc}", "")
            ordinal += 1
            last_line = reader.line_num + 1
            _reset(feed)
            continue
        last_line = reader.line_num + 1  # the header line was read outside the reader
        if feed.oversized:
            yield oversized_reject(
                f"{location}#{ordinal}",
                ordinal,
                f"The CSV row starting at line {start_line} of {location}",
                feed.record_bytes,
                max_record_bytes,
                delimiter.join(field[:200] for field in row),
            )
        elif not row or (len(row) == 1 and not row[0].strip()):
            _reset(feed)
            continue
        elif len(row) != len(header):
            yield _malformed(
                location,
                ordinal,
                start_line,
                f"it has {len(row)} field(s) where the header has {len(header)}",
                delimiter.join(row),
            )
        else:
            fields = _fields(row, columns)
            fallback = [e for e in ("latin-1", "cp1252") if e in feed.encodings]
            if fallback:
                fields["encoding"] = fallback[0]  # the last resort used, if any
            yield RawRecord(f"{location}#{ordinal}", ordinal, FORMAT, fields, raw=delimiter.join(row))
        ordinal += 1
        _reset(feed)


def _reset(feed: _Feed) -> None:
    feed.record_bytes = 0
    feed.oversized = False
    feed.encodings = set()


def _lines(stream: BinaryIO, feed: _Feed) -> Iterator[str]:
    """Decoded physical lines; past the size bound, only the characters that shape the CSV.

    Lines are read in pieces of at most :data:`PIECE` bytes so that one huge line
    never sits in memory whole once the record is over the bound.
    """
    pending: list[bytes] = []  # pieces of the current line (within the bound)
    shape: list[bytes] = []  # the current line reduced to quotes, delimiters and line ends
    while True:
        piece = stream.readline(PIECE)
        if piece:
            feed.record_bytes += len(piece)
            if not feed.oversized and feed.record_bytes > feed.limit:
                feed.oversized = True
                shape = [_STRUCTURE.sub(b"", b"".join(pending))]
                pending = []
            if feed.oversized:
                shape.append(_STRUCTURE.sub(b"", piece))
            else:
                pending.append(piece)
            if not piece.endswith(b"\n"):
                continue
        if shape:
            yield b"".join(shape).decode("ascii")
        elif pending:
            text, encoding = decode_bytes(b"".join(pending))
            feed.encodings.add(encoding)
            yield text
        if not piece:
            return
        pending, shape = [], []


def _malformed(location: str, ordinal: int, line: int, why: str, raw: str) -> Reject:
    return Reject(
        f"{location}#{ordinal}",
        ordinal,
        RejectReason.MALFORMED,
        f"The CSV row starting at line {line} of {location} was skipped: {why}.",
        raw,
    )


def _columns(names: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Canonical field -> the (index, column name) pairs that can fill it, in alias order."""
    columns: dict[str, list[tuple[int, str]]] = {}
    for field, aliases in COLUMN_ALIASES.items():
        found = [(names.index(alias), alias) for alias in aliases if alias in names]
        if found:
            columns[field] = found
    return columns


def _fields(row: list[str], columns: dict[str, list[tuple[int, str]]]) -> RecordFields:
    fields: RecordFields = {field: None for field in COLUMN_ALIASES}  # type: ignore[misc]
    for field, candidates in columns.items():
        for index, name in candidates:
            value = row[index].strip()
            if value:
                fields[field] = _split(value) if name in _LIST_COLUMNS else value
                break
    authors = fields["authors"]
    fields["authors"] = [authors] if isinstance(authors, str) else authors or []
    topics = fields["topics"]
    fields["topics"] = [topics] if isinstance(topics, str) else topics or []
    return fields


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _delimiter(header_line: str) -> str:
    """Tab when the header splits on tabs into known columns, else comma."""
    if "\t" in header_line:
        names = {n.strip().strip('"').lower() for n in header_line.split("\t")}
        if names & _KNOWN_HEADER:
            return "\t"
    return ","


def _sniff(head: bytes) -> bool:
    """A first line that reads as a CSV/TSV header with a known body or title column."""
    line = head.split(b"\n", 1)[0].decode("latin-1").strip()
    for delimiter in (",", "\t"):
        if delimiter not in line:
            continue
        try:
            names = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        cells = {name.strip().lower() for name in names}
        if len(names) >= 2 and cells & _KNOWN_HEADER:
            return True
    return False


SPEC = FormatSpec(FORMAT, read_csv, (".csv", ".tsv"), _sniff)
