"""Reader for JSON documents holding a list of articles (news-please, cc_news, scrapers).

The top level is an array of objects::

    [
      {"title": "...", "description": "...", "date": "2024-12-26 21:09:18",
       "link": "https://tass.com/politics/1894093",
       "content": ["<description again>", "IGORA, December 26. /TASS/. ...", ...],
       "top_words": [...]},
      ...
    ]

or an object wrapping such a list under ``articles``, ``items``, ``data``,
``results``, ``posts``, ``records`` or ``documents`` (other keys are ignored);
an object with none of them is taken as one article (news-please saves one
article per ``.json`` file).

Field names are mapped as in :mod:`etl.readers.jsonl`, plus a few scraper
spellings. A body given as a list of paragraphs is joined with blank lines;
when its first paragraph repeats the ``description`` (the tass.com scraper
does that) it is dropped, the description being kept in its own field.

The file is never loaded whole: it is decoded in 64 KiB chunks and parsed one
element at a time with :meth:`json.JSONDecoder.raw_decode`; memory is bounded by
the largest element. A broken element becomes a ``MALFORMED`` reject naming its
index and line, and reading resumes at the next element (found by matching
brackets outside strings). A file that ends inside the array keeps the
elements before and adds one reject saying the array is truncated.

Bytes are decoded as UTF-8 (a BOM is removed). An element with bytes that are
not UTF-8 is decoded on its own with :func:`etl.readers.encoding.decode_bytes`
(cp1252, then Latin-1), and ``fields["encoding"]`` names the encoding used.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject, skip_rest
from etl.readers.encoding import decode_bytes
from etl.readers.jsonl import FieldTypeError, _json_type, map_fields, pick
from etl.records import RawRecord, RecordFields, Reject, RejectReason

FORMAT = "json_array"
CHUNK = 64 * 1024
LIST_KEYS = ("articles", "items", "data", "results", "posts", "records", "documents")

# Spellings jsonl.FIELD_ALIASES does not know; used only when its aliases found nothing.
EXTRA_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("name",),
    "body": ("paragraphs", "full_text", "story"),
    "url": ("href", "source_url"),
    "published": ("date_publish", "publish_date", "pub_date", "pubDate", "datetime", "created_at"),
    "description": ("summary", "lead", "subtitle"),
    "section": ("section", "category"),
    "topics": ("topics", "tags", "keywords"),
}

# strict=False: raw tabs and newlines inside strings, common in scraped dumps, are accepted.
_DECODER = json.JSONDecoder(strict=False)
_WS = re.compile(r"\s*")
_SURROGATE = re.compile("[\udc80-\udcff]")
# Tokens that matter when skipping a broken element: strings, brackets, separators.
_SKIP_TOKEN = re.compile(r'["\[\]{},]')
_STRING_TOKEN = re.compile(r'\\.|"', re.DOTALL)  # inside a string: an escape pair, or the closing quote


class _Truncated(Exception):
    """The text ended inside a value."""


class _Oversized(Exception):
    """The value grows past the record bound."""


class _Text:
    """UTF-8 text decoded from a binary stream on demand, with a moving start.

    Undecodable bytes are kept as surrogate escapes so that the element holding
    them can be re-decoded on its own. ``line`` is the 1-based line of ``pos``.
    """

    def __init__(self, stream: BinaryIO, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.stream = stream
        self.limit = max_record_bytes
        self.offset = 0  # characters dropped before buf[0]: absolute position = offset + index
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines before buf[counted] (text consumed or already counted)
        self.counted = 0
        self.first = True
        self.mark: int | None = None  # start of the element being read: kept in buf
        self.broken_off = False  # the input ended while skipping a broken element

    def more(self, size: int = CHUNK) -> bool:
        """Append at least one chunk; False at end of input."""
        if self.eof:
            return False
        # Drop what was consumed (but not the marked element), keeping the line count right.
        cut = self.pos if self.mark is None else min(self.mark, self.pos)
        self.lines_before = self.line_at(cut) - 1
        self.counted = 0
        self.buf = self.buf[cut:]
        self.offset += cut
        self.pos -= cut
        if self.mark is not None:
            self.mark -= cut
        data = self.stream.read(size)
        if self.first:
            data = data.removeprefix(codecs.BOM_UTF8)
            self.first = False
        self.buf += self.decoder.decode(data, final=not data)
        if not data:
            self.eof = True
        return True

    def line_at(self, pos: int) -> int:
        """1-based line of ``buf[pos]``; counts incrementally, positions mostly grow."""
        if pos >= self.counted:
            self.lines_before += self.buf.count("\n", self.counted, pos)
        else:
            self.lines_before -= self.buf.count("\n", pos, self.counted)
        self.counted = pos
        return self.lines_before + 1

    def skip_ws(self) -> str:
        """The next non-blank character ("" at end of input), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self) -> tuple[object, str]:
        """Decode the JSON value at ``pos``; returns it and its text.

        Raises ``json.JSONDecodeError`` for a syntax error, :class:`_Truncated`
        when the input ends inside the value, and :class:`_Oversized` when the
        value grows past the record bound (it is then left unread at ``pos``).
        Each retry reads twice as much as the last, so a large element costs
        linear time.
        """
        size = CHUNK
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if not _incomplete(exc):
                    raise
                if len(self.buf) - self.pos > self.limit:
                    raise _Oversized from exc
                if not self.more(min(size, self.limit + 1)):  # the input really ends inside the value
                    raise _Truncated from exc
                size *= 2
                continue
            except (ValueError, RecursionError) as exc:
                # An integer of more than 4,300 digits, or nesting deeper than Python's
                # recursion limit: json refuses both, and the element is unusable.
                raise json.JSONDecodeError(f"unusable value ({exc})", self.buf, self.pos) from exc
            # A number or literal that ends at the buffer end may continue in the next chunk.
            if end == len(self.buf) and not self.eof and self.buf[self.pos] not in '{["':
                if end - self.pos > self.limit:
                    raise _Oversized
                self.more(size)
                continue
            text = self.buf[self.pos : end]
            self.pos = end
            return value, text

    def skip_value(self) -> None:
        """Move past a broken or oversized value by matching brackets outside strings.

        Stops before the ``,`` or ``]`` that ends the value at depth 0 (a stray
        ``}`` there is skipped). A closer of the wrong kind closes the nearest opener of its kind (``[1, 2}``
        closes both), so one stray bracket does not swallow the rest of the
        file. Reads on in chunks, inside strings too, so memory stays bounded
        by the chunk (call it with ``mark`` unset). Raises :class:`_Truncated`
        when the input ends first.
        """
        open_brackets: list[str] = []
        in_string = False
        while True:
            if in_string:
                match = _STRING_TOKEN.search(self.buf, self.pos)
                if match is None:
                    # Nothing left but, perhaps, a backslash whose escaped character is in the next chunk.
                    self.pos = len(self.buf) - (1 if self.buf.endswith("\\") else 0)
                    if not self.more():
                        raise _Truncated
                    continue
                in_string = match.group() != '"'
                self.pos = match.end()
                continue
            match = _SKIP_TOKEN.search(self.buf, self.pos)
            if match is None:
                self.pos = len(self.buf)
                if not self.more():
                    raise _Truncated
                continue
            token = match.group()
            if token == '"':
                in_string = True
            elif token in "[{":
                open_brackets.append(token)
            elif token in "]}":
                if not open_brackets:
                    if token == "]":  # the end of the array
                        self.pos = match.start()
                        return
                    # A stray "}" at the top: garbage, not the array's end; stopping here would
                    # leave the reader in front of it for ever.
                    self.pos = match.end()
                    continue
                opener = "[" if token == "]" else "{"
                while open_brackets and open_brackets.pop() != opener:
                    pass
            elif token == "," and not open_brackets:
                self.pos = match.start()
                return
            self.pos = match.end()


def read_json_array(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield a ``RawRecord`` or ``Reject`` per element of the article list.

    Ordinals are the 0-based element indexes; a truncation reject takes the next
    one. An element larger than ``max_record_bytes`` is one reject: it is read no
    further than the bound, then skipped in chunks.
    """
    text = _Text(stream, max_record_bytes)
    first = text.skip_ws()
    if first == "[":
        text.pos += 1
        yield from _elements(text, location, 0)
    elif first == "{":
        yield from _wrapper(text, location)
    elif first:
        yield Reject(
            f"{location}#0",
            0,
            RejectReason.UNSUPPORTED,
            f"{location} does not start with a JSON array or object (first character {first!r}).",
            _printable(text.buf[text.pos : text.pos + 200]),
        )


def _elements(text: _Text, location: str, start: int) -> Iterator[RawRecord | Reject]:
    """Elements of the array whose ``[`` was just consumed."""
    index = start
    while True:
        char = text.skip_ws()
        if char == "]":  # the end (also after a trailing comma, which is tolerated)
            text.pos += 1
            return
        if not char:
            yield _truncated(location, index, "")
            return
        line = text.line_at(text.pos)
        text.mark = text.pos
        try:
            value, raw = text.value()
        except _Truncated:
            yield _truncated(location, index, text.buf[text.mark : text.mark + 2000])
            return
        except (json.JSONDecodeError, _Oversized) as exc:
            yield from _skip_element(text, location, index, line, exc)
        else:
            text.mark = None
            yield _record(value, raw, location, index, line, text.limit)
        finally:
            text.mark = None
        if text.broken_off:
            return
        index += 1
        char = text.skip_ws()
        if char == ",":
            text.pos += 1
        elif char == "]":
            text.pos += 1
            return
        elif not char:
            yield _truncated(location, index, "")
            return
        else:
            # Something follows an element without a comma: reject it and carry on.
            line = text.line_at(text.pos)
            excerpt = text.buf[text.pos : text.pos + 2000]
            try:
                text.skip_value()
            except _Truncated:
                yield _truncated(location, index, excerpt)
                return
            why = f"expected ',' or ']' after element {index - 1} but found {char!r}"
            yield _broken(location, index, line, why, excerpt)
            index += 1
            if text.skip_ws() == ",":
                text.pos += 1


def _skip_element(
    text: _Text, location: str, index: int, line: int, exc: json.JSONDecodeError | _Oversized
) -> Iterator[Reject]:
    """Skip a broken or oversized element (bounded memory); its reject, then one if the file ends."""
    begin = text.offset + text.mark
    excerpt = text.buf[text.mark : text.mark + 2000]
    where = _where(exc, text) if isinstance(exc, json.JSONDecodeError) else ""
    text.mark = None
    truncated = False
    try:
        text.skip_value()
    except _Truncated:
        truncated = True
    if isinstance(exc, _Oversized):
        size = text.offset + text.pos - begin
        what = f"Array element {index} (starting at line {line})"
        yield oversized_reject(f"{location}#{index}", index, what, size, text.limit, _printable(excerpt))
    else:
        yield _broken(location, index, line, where, excerpt)
    if truncated:
        yield _truncated(location, index + 1, "")
        text.broken_off = True


def _incomplete(exc: json.JSONDecodeError) -> bool:
    """Whether a decode error may only mean that the text stops too early."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(exc.doc) - 8


def _where(exc: json.JSONDecodeError, text: _Text) -> str:
    """The decoder's message with the line and column in the file."""
    joiner = " line" if exc.msg.endswith(" at") else " at line"
    return f"{exc.msg}{joiner} {text.line_at(exc.pos)} column {_column(text.buf, exc.pos)}"


def _column(buf: str, pos: int) -> int:
    return pos - (buf.rfind("\n", 0, pos) + 1) + 1


def _wrapper(text: _Text, location: str) -> Iterator[RawRecord | Reject]:
    """A top-level object: stream the first list under a known key, else one article."""
    line = text.line_at(text.pos)
    text.mark = text.pos  # kept while no list was found: the object may be one article
    text.pos += 1  # the "{"
    rest: dict[str, object] = {}
    try:
        while True:
            char = text.skip_ws()
            if char == "}":
                text.pos += 1
                break
            if char == ",":
                text.pos += 1
                continue
            key, _ = text.value()
            if text.skip_ws() != ":" or not isinstance(key, str):
                raise json.JSONDecodeError("Expecting ':' delimiter", text.buf, text.pos)
            text.pos += 1
            if key.lower() in LIST_KEYS and text.skip_ws() == "[":
                text.pos += 1
                text.mark = None
                yield from _elements(text, location, 0)
                return  # what follows the list is not needed
            text.skip_ws()
            rest[key], _ = text.value()
    except _Truncated:
        yield _truncated(location, 0, text.buf[text.mark : text.mark + 2000], what="object")
        return
    except json.JSONDecodeError as exc:
        yield _broken(location, 0, line, _where(exc, text), text.buf[text.mark : text.mark + 2000])
        return
    except _Oversized:
        excerpt = text.buf[text.mark : text.mark + 2000]
        size = text.offset + len(text.buf) - text.mark
        text.mark = None
        size += skip_rest(text.stream)
        what = f"The JSON object in {location}"
        yield oversized_reject(f"{location}#0", 0, what, size, text.limit, _printable(excerpt))
        return
    text.mark = None
    yield _record(rest, json.dumps(rest, ensure_ascii=False), location, 0, line, text.limit)


def _record(
    value: object, raw: str, location: str, index: int, line: int, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> RawRecord | Reject:
    locator = f"{location}#{index}"
    if len(raw) * 4 > limit and (size := len(raw.encode("utf-8", "surrogateescape"))) > limit:
        what = f"Array element {index} (starting at line {line})"
        return oversized_reject(locator, index, what, size, limit, _printable(raw[:2000]))
    encoding = "utf-8"
    if _has_surrogates(raw):
        # Bytes that are not UTF-8: decode this element alone with the fallbacks.
        decoded, encoding = decode_bytes(raw.encode("utf-8", "surrogateescape"))
        try:
            value = json.loads(decoded)
        except json.JSONDecodeError as exc:  # pragma: no cover - the structure was valid
            return Reject(locator, index, RejectReason.UNDECODABLE, f"Array element {index}: {exc}", decoded)
        raw = decoded
    if not isinstance(value, dict):
        return Reject(
            locator,
            index,
            RejectReason.MALFORMED,
            f"Array element {index} (line {line}) holds a JSON {_json_type(value)}, not an object.",
            raw.strip(),
        )
    try:
        fields = article_fields(value)
    except FieldTypeError as exc:
        return Reject(
            locator, index, RejectReason.MALFORMED, f"Array element {index} (line {line}): {exc}", raw.strip()
        )
    if encoding != "utf-8":
        fields["encoding"] = encoding
    return RawRecord(locator, index, FORMAT, fields, raw=raw.strip())


def article_fields(obj: dict[str, object]) -> RecordFields:
    """Canonical fields of one article object (see the module docstring).

    Raises :class:`etl.readers.jsonl.FieldTypeError` for a value of the wrong JSON type.
    """
    obj = dict(obj)
    for key in ("content", "paragraphs"):
        paragraphs = obj.get(key)
        description = obj.get("description")
        if (
            isinstance(paragraphs, list)
            and paragraphs
            and isinstance(description, str)
            and isinstance(paragraphs[0], str)
            and paragraphs[0].strip() == description.strip()
        ):
            obj[key] = paragraphs[1:]
    fields = map_fields(obj)
    for name, aliases in EXTRA_ALIASES.items():
        if fields.get(name) is None:
            fields[name] = pick(obj, name, aliases)  # type: ignore[literal-required]
    if isinstance(fields.get("body"), list):
        fields["body"] = "\n\n".join(part for part in fields["body"] if part is not None)
    topics = fields.get("topics")
    if isinstance(topics, str):
        fields["topics"] = [t.strip() for t in topics.split(",") if t.strip()]
    return fields


def _has_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _broken(location: str, index: int, line: int, what: str, excerpt: str) -> Reject:
    """A reject for a broken element, with the start of its text."""
    return Reject(
        f"{location}#{index}",
        index,
        RejectReason.MALFORMED,
        f"Array element {index} (starting at line {line}) is not valid JSON: {what}; it was skipped.",
        _printable(excerpt[:2000].strip()),
    )


def _printable(text: str) -> str:
    """Text without lone surrogates (undecodable bytes become U+FFFD)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _truncated(location: str, index: int, raw: str, what: str = "array") -> Reject:
    """The one reject for a file that ends inside the array (or the lone object)."""
    if what == "array":
        where = f"inside element {index}" if raw.strip() else f"after element {index - 1}"
        kept = f"the {index} element(s) before it were kept"
    else:
        where, kept = "before the object closes", "nothing could be kept"
    return Reject(
        f"{location}#{index}",
        index,
        RejectReason.MALFORMED,
        f"The JSON {what} in {location} is truncated: the file ends {where}; {kept}.",
        _printable(raw),
    )


def _sniff(head: bytes) -> bool:
    """A JSON array: the first non-blank byte is ``[``."""
    return head.lstrip().startswith(b"[")


SPEC = FormatSpec(FORMAT, read_json_array, (".json",), _sniff)
