"""Reader for JSON Lines dumps (news-please, cc_news and similar crawls).

Each non-blank line is one JSON object. The crawlers name the same things
differently (``maintext`` vs ``text``, ``date_publish`` vs ``date``), so the
reader maps every known spelling onto the canonical field names and leaves
validation to :mod:`etl.normalize`. The file is read line by line, never whole.

Types are checked, not coerced: a text field (title, url, description, ...)
must be a JSON string, the body a string or a list of strings (paragraphs), and
``authors``/``topics`` a string or a list of strings. Anything else (``"url": 12``,
a ``maintext`` that is an object) makes the record a ``MALFORMED`` reject naming
the key and the type, because ``str()`` of it would store "12" or
"{'nested': 'object'}" as if the crawler had written it. ``null`` counts as
absent, in lists too. Dates are left to normalisation, which rejects non-strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject, skip_line
from etl.records import RawRecord, RecordFields, Reject, RejectReason

FORMAT = "jsonl"

# Canonical field -> source keys, first present (non-null) wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "body": ("maintext", "text", "content", "article", "body"),
    "url": ("url", "link"),
    "published": ("date_publish", "date", "date_published", "published"),
    "language": ("language",),
    "authors": ("authors", "author"),
    "description": ("description",),
}
# No source_domain: the warehouse has no column for it and the url carries the host.


def read_jsonl(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield a ``RawRecord`` or ``Reject`` per non-blank line of a JSON Lines dump.

    Ordinals count non-blank lines (0-based); messages name the physical line
    number (1-based) so a person can open the file at the right place. A line
    longer than ``max_record_bytes`` is read no further than the bound: the rest
    is skipped in bounded pieces up to the next newline, and the line is one reject.
    """
    ordinal = 0
    line_no = 0
    while line := stream.readline(max_record_bytes + 1):
        line_no += 1
        if line_no == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        locator = f"{location}#{ordinal}"
        if len(line.rstrip(b"\r\n")) > max_record_bytes:
            size = len(line) if line.endswith(b"\n") else len(line) + skip_line(stream)[0]
            yield oversized_reject(locator, ordinal, f"Line {line_no}", size, max_record_bytes, line)
            ordinal += 1
            continue
        if not line.strip():
            continue
        yield _parse_line(line, line_no, locator, ordinal)
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
    except (ValueError, RecursionError) as exc:  # over 4,300 digits, or nested too deep, for Python
        return Reject(
            locator,
            ordinal,
            RejectReason.MALFORMED,
            f"line {line_no} holds an unusable value: {exc}",
            text[:2000],
        )
    if not isinstance(value, dict):
        return Reject(
            locator,
            ordinal,
            RejectReason.MALFORMED,
            f"line {line_no} holds a JSON {_json_type(value)}, not an object.",
            text.strip(),
        )
    try:
        fields = map_fields(value)
    except FieldTypeError as exc:
        return Reject(locator, ordinal, RejectReason.MALFORMED, f"line {line_no}: {exc}", text.strip())
    return RawRecord(locator, ordinal, FORMAT, fields, raw=text.strip())


class FieldTypeError(ValueError):
    """A field holds a JSON type it cannot have; the message is the sentence for the reject."""


# Canonical fields that may be a list of strings (paragraphs, names); every other is one string.
LIST_FIELDS = ("body", "authors", "topics")
UNCHECKED_FIELDS = ("published",)  # normalisation rejects a date that is not a string


def pick(obj: dict[str, object], name: str, aliases: tuple[str, ...]) -> object:
    """The first non-null value under ``aliases``, type-checked for canonical field ``name``."""
    for key in aliases:
        value = obj.get(key)
        if value is not None:
            check_type(name, key, value)
            return value
    return None


def check_type(name: str, key: str, value: object) -> None:
    """Raise :class:`FieldTypeError` unless ``value`` has a type field ``name`` may hold."""
    if name in UNCHECKED_FIELDS or isinstance(value, str):
        return
    if name in LIST_FIELDS and isinstance(value, list):
        bad = next((item for item in value if item is not None and not isinstance(item, str)), None)
        if bad is None:
            return
        raise FieldTypeError(
            f"field {key!r} is a list holding a JSON {_json_type(bad)} ({_excerpt(bad)}), "
            "where only strings are allowed; the record was not loaded."
        )
    allowed = "a string or a list of strings" if name in LIST_FIELDS else "a string"
    raise FieldTypeError(
        f"field {key!r} holds a JSON {_json_type(value)} ({_excerpt(value)}), not {allowed}; "
        "the record was not loaded rather than store its Python text."
    )


def map_fields(obj: dict[str, object]) -> RecordFields:
    """Canonical fields from one crawled object (unknown keys are dropped).

    A body given as a list of paragraphs (some scrapers do that) is joined with
    blank lines; ``authors`` is always a list, a single string becoming one item.
    Raises :class:`FieldTypeError` for a value of the wrong JSON type.
    """
    fields: RecordFields = {}
    for name, aliases in FIELD_ALIASES.items():
        fields[name] = pick(obj, name, aliases)  # type: ignore[literal-required]
    body = fields["body"]
    if isinstance(body, list):
        fields["body"] = "\n\n".join(part for part in body if part is not None)
    authors = fields["authors"]
    if authors is None:
        fields["authors"] = []
    elif isinstance(authors, list):
        fields["authors"] = [a for a in authors if a is not None]
    else:
        fields["authors"] = [authors]
    return fields


def _excerpt(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


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
    if isinstance(value, dict):
        return "object"
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
