"""Reader for TASS plain-text article dumps.

A TASS article as saved from tass.com looks like this::

     date 2017-01-25 Back to Main page        <- header: starts every article
    Russian Aerospace Forces, Syrian army ...  <- title, may wrap over lines
                                               <- blank line ends the title
    Russian Politics & Diplomacy               <- section
    January 25, 14:44 UTC+3                    <- time line (no year!)
    Russia's top diplomat noted that ...       <- lead
    MOSCOW, January 25. /TASS/. Russia's ...   <- dateline opens the body
    ...                                        <- body, related headlines, sub-heads
    Topics                                     <- trailers (optional)
    Islamic State Foreign policy Syrian conflict
    Persons
    Sergey Lavrov

A file holds one article or several concatenated; each starts at a header line.
In this format a single newline already separates paragraphs (the lead and the
dateline paragraph sit on adjacent lines), so every non-blank body line is a
paragraph of its own. Short headline-like lines stay in the body; the dedup rule
in :mod:`etl.text` leaves them out of the comparison.

The file is read as bytes and split into articles before decoding, so memory is
bounded by one article and a single mis-encoded article does not spoil the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject
from etl.readers.encoding import decode_bytes
from etl.records import RAW_EXCERPT_CHARS, RawRecord, RecordFields, Reject, RejectReason
from etl.text import is_prose

FORMAT = "tass"

HEADER_RE = re.compile(r"^\s*date (\d{4}-\d{2}-\d{2})")
_HEADER_BYTES_RE = re.compile(rb"^\s*date \d{4}-\d{2}-\d{2}")
_NOISE_RE = re.compile(r"^back to main page$", re.IGNORECASE)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
TIME_LINE_RE = re.compile(
    r"^(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?:\s*(?:UTC|GMT)\s*(?:(?P<sign>[+\-\u2212])\s*(?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?)?)?\s*$"
)
# "MOSCOW, January 25. /TASS/." - place in capitals (several words, dots, hyphens and
# apostrophes allowed: "NEW YORK", "ST. PETERSBURG"), a date, the agency between slashes.
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de"
DATELINE_RE = re.compile(
    rf"^(?P<place>[{_UPPER}][{_UPPER}0-9 .'\u2019\-]*?),\s+"
    r"(?P<date>[A-Z][a-z]{2,8}\.?\s+\d{1,2})\.?\s*"
    r"/(?P<agency>[A-Za-z][A-Za-z0-9\- ]{0,30}?)/\.?\s*"
)
TRAILER_RE = re.compile(r"^(?P<label>topics|persons|tags)\s*:?\s*$", re.IGNORECASE)
_SEPARATORS_RE = re.compile(r"\s*[,;|\u00b7]\s*")
_SECTION_MAX_WORDS = 8


def read_tass(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield one ``RawRecord`` (or ``Reject``) per article in a TASS text dump.

    Ordinals are 0-based in file order. Non-blank text before the first header is
    yielded as a ``MALFORMED`` reject and takes ordinal 0, so that every piece of
    the file is accounted for (records read = articles + duplicates + rejects).
    An article larger than ``max_record_bytes`` is one reject; only its first
    bytes are kept while the rest is counted and skipped.
    """
    chunks = _chunks(_lines(stream, max_record_bytes + 1), max_record_bytes)
    for ordinal, (kind, chunk, size) in enumerate(chunks):
        locator = f"{location}#{ordinal}"
        if kind == _OVERSIZED:
            what = f"The TASS article {ordinal} of {location}"
            yield oversized_reject(locator, ordinal, what, size, max_record_bytes, chunk)
            continue
        text, encoding = decode_bytes(chunk)
        if kind == _ARTICLE:
            yield parse_article(text, locator, ordinal, encoding)
        else:
            yield Reject(
                locator,
                ordinal,
                RejectReason.MALFORMED,
                "Text before the first 'date YYYY-MM-DD' header is not part of any "
                f"TASS article ({len(text.strip())} characters).",
                text,
            )


def parse_article(text: str, locator: str, ordinal: int, encoding: str = "utf-8") -> RawRecord | Reject:
    """Parse one article (header line first, ``\n`` line ends) into a record or a reject."""

    def reject(code: RejectReason, reason: str) -> Reject:
        return Reject(locator, ordinal, code, reason, text)

    lines = [_clean_line(line) for line in text.split("\n")]
    header_date = HEADER_RE.match(lines[0]).group(1)
    try:
        day = date.fromisoformat(header_date)
    except ValueError:
        return reject(RejectReason.BAD_DATE, f"The header date '{header_date}' is not a calendar date.")
    parts = _split_parts([line for line in lines[1:] if not _NOISE_RE.match(line)])
    if not parts.title:
        return reject(
            RejectReason.MISSING_TITLE,
            f"The TASS article dated {header_date} has no title: no text line comes "
            "between its 'date' header and its time line or body.",
        )
    if not parts.body:
        return reject(
            RejectReason.MISSING_BODY,
            f"The TASS article '{parts.title}' ({header_date}) has no body text after "
            "its time line and dateline.",
        )
    return RawRecord(locator, ordinal, FORMAT, _fields(parts, day, encoding), raw=text)


def _fields(parts: _Parts, day: date, encoding: str) -> RecordFields:
    """The canonical field dict of a parsed article."""
    published, precision = _published(parts.time_line, day)
    dateline = DATELINE_RE.match(parts.dateline_line) if parts.dateline_line else None
    fields: RecordFields = {
        "title": parts.title,
        "section": parts.section,
        "published": published,
        "published_precision": precision,
        "lead": parts.lead,
        "dateline": dateline.group(0).strip() if dateline else None,
        "dateline_place": dateline.group("place").strip() if dateline else None,
        "agency": dateline.group("agency").strip() if dateline else None,
        "body": "\n\n".join(parts.body),
        "topics": parts.trailers.get("topics", []),
        "persons": parts.trailers.get("persons", []),
        "encoding": encoding,  # which decoder worked, for people chasing mojibake
    }
    if "tags" in parts.trailers:
        fields["tags"] = parts.trailers["tags"]
    return fields


@dataclass(slots=True)
class _Parts:
    """The pieces of one article, as lines of text, before they become fields."""

    title: str = ""
    section: str | None = None
    time_line: str | None = None
    lead: str | None = None
    dateline_line: str | None = None
    body: list[str] = field(default_factory=list)
    trailers: dict[str, list[str]] = field(default_factory=dict)


def _split_parts(lines: list[str]) -> _Parts:
    """Cut the lines after the header into title, section, time, lead, body, trailers."""
    parts = _Parts()
    trailer_at = _trailer_start(lines)
    parts.trailers = _parse_trailers(lines[trailer_at:])
    lines = lines[:trailer_at]

    # The time line precedes the dateline; looking no further keeps a body line
    # such as "May 5, 10:00" from being taken for it.
    first_dateline = next((i for i, line in enumerate(lines) if DATELINE_RE.match(line)), len(lines))
    time_at = next((i for i, line in enumerate(lines[:first_dateline]) if TIME_LINE_RE.match(line)), None)
    head_end = time_at if time_at is not None else len(lines)
    title_lines, rest_of_head = _title_block(lines[:head_end])
    parts.title = " ".join(title_lines)
    if time_at is not None:
        parts.time_line = lines[time_at]
        head = [line for line in rest_of_head if line]
        parts.section = head[-1] if head else None
        after_head = lines[time_at + 1 :]
    else:
        parts.section, after_head = _section_without_time_line(rest_of_head)

    content = [line for line in after_head if line]
    dateline_at = next((i for i, line in enumerate(content) if DATELINE_RE.match(line)), None)
    if dateline_at is None:
        parts.body = content
        return parts
    parts.lead = " ".join(content[:dateline_at]) or None
    parts.dateline_line = content[dateline_at]
    first = DATELINE_RE.sub("", content[dateline_at], count=1).strip()
    parts.body = ([first] if first else []) + content[dateline_at + 1 :]
    return parts


def _title_block(lines: list[str]) -> tuple[list[str], list[str]]:
    """Title = the first run of non-blank lines (a wrapped title spans several)."""
    start = next((i for i, line in enumerate(lines) if line), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end], lines[end:]


def _section_without_time_line(lines: list[str]) -> tuple[str | None, list[str]]:
    """Without a time line, the line after the title is a section only if it looks like one.

    A section label is short, unpunctuated and not a dateline; anything else is
    taken as the start of the lead or body so no text is lost.
    """
    content_at = next((i for i, line in enumerate(lines) if line), None)
    if content_at is None:
        return None, []
    candidate = lines[content_at]
    is_label = (
        len(candidate.split()) <= _SECTION_MAX_WORDS
        and not is_prose(candidate)
        and not DATELINE_RE.match(candidate)
    )
    remaining = [line for line in lines[content_at + 1 :] if line]
    if is_label and remaining:
        return candidate, lines[content_at + 1 :]
    return None, lines[content_at:]


def _trailer_start(lines: list[str]) -> int:
    """Index of the first trailer label after which nothing reads as prose; else len(lines).

    Requiring only labels and short items after it keeps a body sub-heading that
    happens to read "Topics" from swallowing the rest of the article.
    """
    for i, line in enumerate(lines):
        if TRAILER_RE.match(line) and not any(is_prose(rest) for rest in lines[i + 1 :] if rest):
            return i
    return len(lines)


def _parse_trailers(lines: list[str]) -> dict[str, list[str]]:
    """``{"topics": [...], "persons": [...]}`` from the trailer lines."""
    trailers: dict[str, list[str]] = {}
    label: str | None = None
    items: dict[str, list[str]] = {}
    for line in lines:
        match = TRAILER_RE.match(line)
        if match:
            label = match.group("label").lower()
            items.setdefault(label, [])
        elif line and label:
            items[label].append(line)
    for name, values in items.items():
        trailers[name] = _trailer_items(name, values)
    return trailers


def _trailer_items(label: str, lines: list[str]) -> list[str]:
    """One item per line; a single line splits on separators, or by the topic heuristic."""
    if len(lines) != 1:
        return lines
    line = lines[0]
    if _SEPARATORS_RE.search(line):
        return [item for item in _SEPARATORS_RE.split(line) if item]
    if label == "topics":
        return split_topics(line)
    return [line]


def split_topics(line: str) -> list[str]:
    """Split a run-together TASS topics line into topics.

    tass.com renders topic tags next to each other, so the saved text loses the
    boundaries: ``"Islamic State Foreign policy Syrian conflict"``. Heuristic,
    reading tokens right to left: a run of lowercase words attaches to the
    capitalised word before it, which starts that topic ("Syrian conflict",
    "Foreign policy"); the remaining consecutive capitalised words form one topic
    ("Islamic State"). It cannot split two adjacent all-capitalised topics
    ("Donald Trump Vladimir Putin" stays one item); feeds with separators avoid it.

    >>> split_topics("Islamic State Foreign policy Syrian conflict")
    ['Islamic State', 'Foreign policy', 'Syrian conflict']
    """
    tokens = line.split()
    topics: list[list[str]] = []
    i = len(tokens) - 1
    while i >= 0:
        j = i
        if tokens[i][0].islower():
            while j >= 0 and tokens[j][0].islower():
                j -= 1
            j = max(j, 0)
            topics.append(tokens[j : i + 1])
            i = j - 1
        else:
            while j >= 0 and not tokens[j][0].islower():
                j -= 1
            topics.append(tokens[j + 1 : i + 1])
            i = j
    return [" ".join(topic) for topic in reversed(topics)]


def _published(time_line: str | None, header_day: date) -> tuple[str, str]:
    """ISO-8601 with offset from the time line and the header's year; or the header day.

    The time line has no year. It is taken from the header date, except around New
    Year: a time line more than a day *after* the header date ("December 31" under a
    "2018-01-01" header) belongs to the previous year. An impossible calendar date
    is passed on verbatim so normalisation rejects it with the value quoted.
    """
    if time_line is None:
        return f"{header_day.isoformat()}T00:00:00+00:00", "day"
    match = TIME_LINE_RE.match(time_line)
    month = _MONTHS.get(match.group("month").lower())
    if month is None:
        return time_line, "minute"
    try:
        stamp = _stamp(match, month, header_day)
    except ValueError:
        return time_line, "minute"
    return stamp.isoformat(), "minute"


def _stamp(match: re.Match[str], month: int, header_day: date) -> datetime:
    """Build the aware datetime for a matched time line (raises ValueError if impossible)."""
    day = int(match.group("day"))
    offset = timedelta(0)
    if match.group("oh"):
        offset = timedelta(hours=int(match.group("oh")), minutes=int(match.group("om") or 0))
        if match.group("sign") != "+":
            offset = -offset
    tz = timezone(offset)
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    for year in (header_day.year, header_day.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # February 29 in a non-leap year: try the previous year
            continue
        if candidate - header_day <= timedelta(days=1):
            return datetime(year, month, day, hour, minute, tzinfo=tz)
    raise ValueError(f"no plausible year for {match.group(0)!r}")


def _clean_line(line: str) -> str:
    """Strip a line, counting no-break spaces and BOMs as whitespace."""
    return line.replace("\u00a0", " ").replace("\ufeff", "").strip()


def _lines(stream: BinaryIO, cap: int, block_size: int = 1 << 16) -> Iterator[tuple[bytes, int]]:
    r"""Yield ``(line, size)`` split on ``\r\n``, ``\r`` or ``\n``, streaming.

    ``line`` is without its terminator and cut to its first ``cap`` bytes; ``size``
    is its full length, so an overlong line never sits in memory whole.
    """
    pending = b""
    head: bytes | None = None  # the first bytes of an overlong line being skipped
    dropped = 0
    while block := stream.read(block_size):
        pending += block
        # Keep a trailing \r back: it may be the first half of a \r\n split across blocks.
        cut = len(pending) - 1 if pending.endswith(b"\r") else len(pending)
        *complete, pending_tail = re.split(rb"\r\n|\r|\n", pending[:cut])
        for line in complete:
            if head is not None:
                yield head, len(head) + dropped + len(line)
                head, dropped = None, 0
            else:
                yield line, len(line)
        pending = pending_tail + pending[cut:]
        if len(pending) > cap:
            keep = b"\r" if pending.endswith(b"\r") else b""
            body = pending[: len(pending) - len(keep)]
            if head is None:
                head, dropped = body[:cap], len(body) - cap
            else:
                dropped += len(body)
            pending = keep
    if pending or head is not None:
        lines = re.split(rb"\r\n|\r|\n", pending.rstrip(b"\r"))
        if head is not None:
            yield head, len(head) + dropped + len(lines[0])
            lines = lines[1:]
        for line in lines:
            yield line, len(line)


_PREAMBLE, _ARTICLE, _OVERSIZED = "preamble", "article", "oversized"


def _chunks(lines: Iterable[tuple[bytes, int]], limit: int) -> Iterator[tuple[str, bytes, int]]:
    """Group lines into ``(kind, bytes, size)``: a preamble (if non-blank), then articles.

    A group larger than ``limit`` bytes is of kind ``oversized`` and keeps only
    its first bytes (for the reject's excerpt): memory stays bounded by the limit.
    """
    current: list[bytes] = []
    size = 0
    kind = _PREAMBLE
    first = True

    def group() -> tuple[str, bytes, int]:
        return (_OVERSIZED if size > limit else kind), b"\n".join(current), size

    for line, length in lines:
        if first:
            if line.startswith(b"\xef\xbb\xbf"):
                line, length = line[3:], length - 3
            first = False
        if _HEADER_BYTES_RE.match(line):
            if kind == _ARTICLE or size > limit or b"".join(current).strip():
                yield group()
            current, kind, size = [line], _ARTICLE, length
            continue
        size += length + 1
        if size <= limit:
            current.append(line)
        elif sum(map(len, current)) < RAW_EXCERPT_CHARS:
            current.append(line[:RAW_EXCERPT_CHARS])
    if kind == _ARTICLE or size > limit or b"".join(current).strip():
        yield group()


_HEADER_ANYWHERE_RE = re.compile(rb"(?m)^[ \t]*date \d{4}-\d{2}-\d{2}")


def _sniff(head: bytes) -> bool:
    """A ``date YYYY-MM-DD`` header line somewhere in the first bytes."""
    return _HEADER_ANYWHERE_RE.search(head) is not None


SPEC = FormatSpec(FORMAT, read_tass, (".txt", ".tass"), _sniff)
