"""The record types every stage shares.

A dump is read into a stream of ``RawRecord | Reject``; normalisation turns each
``RawRecord`` into an ``Article`` or a ``Reject``. Stages take iterables and yield,
so they compose without holding a whole dump in memory.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

RAW_EXCERPT_CHARS = 2000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """Text a warehouse can store: NUL removed, lone surrogates (from JSON ``\\ud800``) as U+FFFD.

    PostgreSQL refuses NUL in text columns and psycopg cannot encode a lone
    surrogate; either would fail the whole batch, and with it the dump, on every re-run.
    """
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


class RejectReason(enum.StrEnum):
    """Machine-readable reject categories; the sentence for people travels beside it."""

    UNDECODABLE = "undecodable"
    MALFORMED = "malformed"
    MISSING_BODY = "missing_body"
    MISSING_TITLE = "missing_title"
    BAD_DATE = "bad_date"
    UNSUPPORTED = "unsupported"
    UNREADABLE = "unreadable"
    OVERSIZED = "oversized"
    # The format of a dump (or archive member) could not be told: the dump stays open for a later
    # run with --format, or with a newer newsetl, which replaces this reject with its records.
    UNKNOWN_FORMAT = "unknown_format"


class RecordFields(TypedDict, total=False):
    """The canonical fields a reader fills in, before normalisation checks and types them.

    The first group becomes ``Article`` (etl.normalize reads exactly these); values
    are as found in the dump, so normalisation still rejects a bad date or a missing
    body. ``encoding`` names the decoder that worked and is recorded per dump
    (``dumps.encoding``). The last group is reader-specific detail that stays on
    the record (tests, debugging) and is not stored. A reader sets no other key:
    a value with nowhere to go is dropped in the reader, where a comment says why.
    """

    title: str | None
    body: str | None
    url: str | None
    published: object  # a string as found; normalisation rejects anything else
    section: str | None
    lead: str | None
    dateline: str | None
    dateline_place: str | None
    agency: str | None
    language: str | None
    description: str | None
    topics: list[str]
    persons: list[str]
    authors: list[str]
    encoding: str
    # Reader-specific, not stored.
    published_precision: str  # "minute" or "day" (TASS, Reuters)
    text_type: str  # Reuters TEXT TYPE: NORM, BRIEF or UNPROC
    newid: str | None  # Reuters story ids
    oldid: str | None
    places: list[str]  # Reuters category lists without an articles column
    orgs: list[str]
    exchanges: list[str]
    tags: list[str]  # TASS "Tags:" trailer
    scraped_at: str | None  # FakeNewsCorpus: when the page was crawled, not published


@dataclass(slots=True)
class RawRecord:
    """One record as found in a dump: text fields, not yet validated or typed.

    ``ordinal`` is the 0-based position of the record in its dump; it makes the
    ``locator`` (``<dump location>#<ordinal>``) unique and lets an interrupted load
    resume exactly where it stopped.
    """

    locator: str
    ordinal: int
    format: str
    fields: RecordFields
    raw: str = ""


@dataclass(slots=True)
class Reject:
    """A record that could not be parsed or validated, and why."""

    locator: str
    ordinal: int
    reason_code: RejectReason
    reason: str
    raw: str = ""

    def __post_init__(self) -> None:
        # Reasons quote values and raw excerpts are whatever the dump held: keep both storable.
        self.locator = storable(self.locator)
        self.reason = storable(self.reason)
        self.raw = storable(self.raw[:RAW_EXCERPT_CHARS])


@dataclass(slots=True)
class Article:
    """A normalised article, ready for deduplication and loading.

    ``body`` is what people read; ``dedup_text`` is the part of it that
    duplicate detection compares (injected headlines and short non-prose lines
    removed), and ``content_hash`` is the sha256 of its normalised form.
    """

    locator: str
    ordinal: int
    source: str
    title: str
    body: str
    dedup_text: str
    content_hash: str
    published_at: datetime | None = None
    url: str | None = None
    section: str | None = None
    lead: str | None = None
    dateline: str | None = None
    dateline_place: str | None = None
    agency: str | None = None
    topics: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    description: str | None = None
