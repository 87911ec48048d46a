"""Normalisation: ``RawRecord`` (text fields as found) -> ``Article`` (typed) or ``Reject``.

Pure functions, no I/O: the same record always gives the same result (given
``now``), so a re-run reproduces the same hashes and the same rejects.

Rules, and why:

* Title and body go through :func:`etl.text.clean_text`; the body keeps its
  paragraph breaks (runs of blank lines collapse to one) because dedup and readers
  both work by paragraph.
* A record without body text is rejected (``MISSING_BODY``): there is nothing to
  deduplicate or read. A missing title is allowed (``""``): crawls often lose it
  while the text is fine, and the TASS reader already rejects untitled articles.
* Dates are stored as aware UTC datetimes. Accepted: ISO-8601 (``T`` or space,
  with or without offset, ``Z``), ``YYYY-MM-DD HH:MM:SS``, RFC 2822 and date-only;
  a date without offset is taken as UTC. An unparseable date, one before
  1800-01-01 or more than two days in the future is rejected (``BAD_DATE``): a
  wrong date silently misfiles an article in every time-based query. A missing
  date is allowed (``published_at`` is ``None``).
* Every text that reaches the warehouse is storable (:func:`etl.records.storable`):
  NUL bytes are removed (they carry no meaning in prose, a byline or a topic, and
  PostgreSQL refuses them), lone surrogates become U+FFFD. The exception is the
  ``url``: a URL with a NUL is no URL (RFC 3986 has no raw control characters), and
  removing it would silently give the article another address, so such a record
  is rejected (``MALFORMED``) with its raw text kept in ``rejects``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from etl.records import Article, RawRecord, Reject, RejectReason, storable
from etl.text import clean_text, content_hash, dedup_text

EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)

_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")
_OPTIONAL_TEXT = (
    "url",
    "section",
    "lead",
    "dateline",
    "dateline_place",
    "agency",
    "language",
    "description",
)
_LISTS = ("topics", "persons", "authors")


class BadDate(ValueError):
    """A date value that cannot be used; the message is the sentence for the reject."""


def normalize(record: RawRecord, source: str, now: datetime | None = None) -> Article | Reject:
    """Turn one ``RawRecord`` into an ``Article``, or a ``Reject`` saying why not.

    ``source`` is the name of the dump's source (not the crawled domain); ``now``
    bounds plausible dates and defaults to the current UTC time.
    """
    fields = record.fields
    url = fields.get("url")
    if isinstance(url, str) and "\x00" in url:
        return _reject(
            record,
            RejectReason.MALFORMED,
            f"The url of the record at {record.locator} contains a NUL byte (0x00), so it is no usable "
            "address; removing the byte would store a different url.",
        )
    body = clean_body(fields.get("body"))
    if not body:
        return _reject(record, RejectReason.MISSING_BODY, _missing_body_reason(record))
    try:
        published_at = parse_date(fields.get("published"), now)
    except BadDate as exc:
        return _reject(record, RejectReason.BAD_DATE, f"{exc} (record {record.locator}).")
    dedup = dedup_text(body)
    if dedup == body:  # most bodies are all prose: one string, pickled and cached once
        dedup = body
    optional = {name: _optional_text(fields.get(name)) for name in _OPTIONAL_TEXT}
    lists = {name: _text_list(fields.get(name)) for name in _LISTS}
    return Article(
        locator=record.locator,
        ordinal=record.ordinal,
        source=source,
        title=clean_title(fields.get("title")),
        body=body,
        dedup_text=dedup,
        content_hash=content_hash(dedup),
        published_at=published_at,
        **optional,
        **lists,
    )


def normalize_all(records: Iterable[RawRecord | Reject], source: str) -> Iterator[Article | Reject]:
    """Normalise a stream; rejects from the reader pass through unchanged, in order."""
    for record in records:
        yield record if isinstance(record, Reject) else normalize(record, source)


def clean_body(value: object) -> str:
    """Cleaned body text with paragraph breaks kept and blank-line runs collapsed."""
    text = _as_text(value)
    return _BLANK_RUNS.sub("\n\n", clean_text(text)) if text else ""


def clean_title(value: object) -> str:
    """Cleaned title on one line (a wrapped title's line breaks become spaces)."""
    text = _as_text(value)
    return _SPACES.sub(" ", clean_text(text)) if text else ""


def parse_date(value: object, now: datetime | None = None) -> datetime | None:
    """Parse a published date into an aware UTC datetime; ``None`` stays ``None``.

    Raises :class:`BadDate` (with the value quoted) when the value cannot be
    parsed or is implausible (before 1800-01-01, or more than two days after ``now``).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise BadDate(f"The published date {value!r} is not a date string")
    text = value.strip()
    parsed = _parse_iso(text) or _parse_rfc2822(text)
    if parsed is None:
        raise BadDate(f"The published date '{text}' is not a recognised date format")
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    now = now or datetime.now(UTC)
    if parsed < EARLIEST:
        raise BadDate(f"The published date '{text}' is before 1800-01-01, which is implausible")
    if parsed > now + FUTURE_SLACK:
        raise BadDate(
            f"The published date '{text}' is more than 2 days in the future (now is {now:%Y-%m-%d %H:%M} UTC)"
        )
    return parsed


def _parse_iso(text: str) -> datetime | None:
    """ISO-8601 / ``YYYY-MM-DD HH:MM:SS`` / date-only, or ``None``."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_rfc2822(text: str) -> datetime | None:
    """RFC 2822 (``Wed, 25 Jan 2017 14:44:00 +0300``), or ``None``."""
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _missing_body_reason(record: RawRecord) -> str:
    title = clean_title(record.fields.get("title"))
    named = f" '{title[:80]}'" if title else ""
    return f"The article{named} at {record.locator} has no body text."


def _reject(record: RawRecord, code: RejectReason, reason: str) -> Reject:
    return Reject(record.locator, record.ordinal, code, reason, record.raw)


def _as_text(value: object) -> str:
    """Any field value as text: lists of paragraphs are joined, ``None`` is ``""``."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(_as_text(item) for item in value)
    return storable(value if isinstance(value, str) else str(value))


def _optional_text(value: object) -> str | None:
    """Stripped single-line text, or ``None`` when absent or blank."""
    text = _SPACES.sub(" ", _as_text(value)).strip()
    return text or None


def _text_list(value: object) -> list[str]:
    """A list of stripped, non-empty strings; a lone string is one item."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    cleaned = (_optional_text(item) for item in items)
    return [item for item in cleaned if item]
