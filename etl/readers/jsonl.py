"""Reader for JSON Lines dumps (news-please, cc_news and similar crawls).

Each non-blank line is one JSON object. The crawlers name the same things
differently (``maintext`` vs ``text``, ``date_publish`` vs ``date``), so the
reader maps every known spelling onto the canonical field names and leaves
validation to :mod:`etl.normalize`. The file is read line by line, never whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from etl.readers.base import FormatSpec
from etl.records import RawRecord, Reject, RejectReason

FORMAT = "jsonl"

# Canonical field -> source keys, first present (non-null) wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "body": ("maintext", "text", "content", "article", "body"),
    "url": ("url", "link"),
    "published": ("date_publish", "date", "date_published", "published"),
    "source_domain": ("source_domain", "domain"),
    "language": ("language",),
    "authors": ("authors", "author"),
    "description": ("description",),
}


def read_jsonl(stream: BinaryIO, location: str) -> Iterator[RawRecord | Reject]:
    """Yield a ``RawRecord`` or ``Reject`` per non-blank line of a JSON Lines dump.

    Ordinals count non-blank lines (0-based); messages name the physical line
    number (1-based) so a person can open the file at the right place.
    """
    ordinal = 0
    for line_no, line in enumerate(stream, start=1):
        if line_no == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if not line.strip():
            continue
        yield _parse_line(line, line_no, f"{location}#{ordinal}", ordinal)
        ordinal += 1


def _parse_line(line: bytes, line_no: int, locator: str, ordinal: int) -> RawRecord | Reject:
    """Decode and parse one line; every failure becomes a ``Reject`` with a reason."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return Reject(
            locator,
            ordinal,
            RejectReason.UNDECODABLE,
            f"line {line_no} is not valid UTF-8: byte 0x{line[exc.start]:02x} "
            f"at offset {exc.start} cannot be decoded.",
            line.decode("utf-8", errors="replace").strip(),
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Reject(
            locator,
            ordinal,
            RejectReason.MALFORMED,
            f"line {line_no} is not valid JSON: {_json_error(exc)}",
            text.strip(),
        )
    if not isinstance(value, dict):
        return Reject(
            locator,
            ordinal,
            RejectReason.MALFORMED,
            f"line {line_no} holds a JSON {_json_type(value)}, not an object.",
            text.strip(),
        )
    return RawRecord(locator, ordinal, FORMAT, map_fields(value), raw=text.strip())


def map_fields(obj: dict[str, object]) -> dict[str, object]:
    """Canonical fields from one crawled object (unknown keys are dropped).

    A body given as a list of paragraphs (some scrapers do that) is joined with
    blank lines; ``authors`` is always a list, a single string becoming one item.
    """
    fields: dict[str, object] = {}
    for name, aliases in FIELD_ALIASES.items():
        fields[name] = next((obj[key] for key in aliases if obj.get(key) is not None), None)
    body = fields["body"]
    if isinstance(body, list):
        fields["body"] = "\n\n".join(str(part) for part in body if part is not None)
    authors = fields["authors"]
    if authors is None:
        fields["authors"] = []
    elif isinstance(authors, list):
        fields["authors"] = [str(a) for a in authors if a is not None]
    else:
        fields["authors"] = [str(authors)]
    return fields


def _json_error(exc: json.JSONDecodeError) -> str:
    """The decoder's message with its column ("Expecting ',' delimiter at column 40").

    Some messages already end in "at" ("Unterminated string starting at"); the
    column then follows directly.
    """
    joiner = " column" if exc.msg.endswith(" at") else " at column"
    return f"{exc.msg}{joiner} {exc.colno}"


def _json_type(value: object) -> str:
    """JSON's own name for the type of a decoded value."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _sniff(head: bytes) -> bool:
    """A JSON object at the start of the first non-blank line."""
    return head.lstrip().startswith(b"{")


SPEC = FormatSpec(FORMAT, read_jsonl, (".jsonl", ".ndjson", ".jsonl.txt"), _sniff)
