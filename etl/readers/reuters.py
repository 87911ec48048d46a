"""Reader for the Reuters-21578 SGML wire stories (``reut2-NNN.sgm``).

A file holds up to 1,000 stories, each a ``<REUTERS ...>`` block::

    <REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
    <DATE>26-FEB-1987 15:01:01.79</DATE>
    <TOPICS><D>cocoa</D></TOPICS>
    <PLACES><D>el-salvador</D><D>usa</D></PLACES>
    <PEOPLE></PEOPLE>
    ...
    <TEXT>&#2;
    <TITLE>BAHIA COCOA REVIEW</TITLE>
    <DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued throughout the week in
    the Bahia cocoa zone, alleviating the drought since early
        The dry period means the temporao will be late this year.
     Reuter
    &#3;</BODY></TEXT>
    </REUTERS>

Decisions:

* Bytes are decoded as Latin-1, which maps every byte (the corpus is ASCII but
  for one 0xFC byte), and ``fields["encoding"]`` says so.
* Teletype control characters written as character references (``&#2;``,
  ``&#3;``, ``&#22;``, ``&#127;`` ...) are dropped; ``&lt;`` and ``&amp;`` (the
  only named entities) are unescaped.
* The body is hard-wrapped at ~70 columns and a paragraph starts on an indented
  line, so lines are re-flowed into paragraphs separated by blank lines; a table
  (every row indented) becomes one paragraph per row. The trailing ``Reuter``
  signature line is removed and recorded as ``agency = "Reuters"``.
* A story without ``<BODY>`` (``TEXT TYPE="BRIEF"``: headline only, and
  ``TYPE="UNPROC"``: unstructured tables) is passed on with an empty body so
  that normalisation rejects it as ``MISSING_BODY``; ``fields["text_type"]``
  tells which kind it was.
* ``DATE`` is taken as UTC. A few dates carry trailing teletype codes, one has
  an impossible hour (``605:12:19``); those keep the day only
  (``published_precision = "day"``).

The stream is split into blocks on ``</REUTERS>`` as it is read, so memory is
bounded by one chunk plus one story.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject
from etl.records import RAW_EXCERPT_CHARS, RawRecord, RecordFields, Reject, RejectReason

FORMAT = "reuters"
ENCODING = "latin-1"
CHUNK = 64 * 1024

_END = b"</REUTERS>"
_START = b"<REUTERS"
_BLOCK_START_RE = re.compile(r"<REUTERS\b(?P<attrs>[^>]*)>", re.IGNORECASE)
_ATTR_RE = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_NEWID_RE = re.compile(r'NEWID="[^"]*"')
_CONTROL_REF_RE = re.compile(r"&#(\d+);")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_D_RE = re.compile(r"<D>(.*?)</D>", re.DOTALL | re.IGNORECASE)
_TEXT_RE = re.compile(r"<TEXT\b(?P<attrs>[^>]*)>(?P<text>.*?)(?:</TEXT>|$)", re.DOTALL | re.IGNORECASE)
_DATE_RE = re.compile(
    r"(?P<day>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<year>\d{4})"
    r"(?:\s+(?P<h>\d{1,3}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))?)?"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
# The signature line, sometimes with dots or a literal "^M" left by the teletype.
_SIGNATURE_RE = re.compile(r"^reuters?(?:[\s.]|\^M)*$", re.IGNORECASE)
# ... or run on at the end of the last line: "total 55.8 (33.7). REUTER".
_SIGNATURE_TAIL_RE = re.compile(r"(?<=[.\"')])\s+REUTER(?:[\s.]|\^M)*$")
_AUTHOR_RE = re.compile(r"^(?:by\s+)?(?P<name>.*?)(?:,\s*reuters?)?$", re.IGNORECASE)
_SPACES_RE = re.compile(r"\s+")
_SNIFF_RE = re.compile(rb"<!DOCTYPE\s+lewis|(?:^|\n)\s*<REUTERS\b", re.IGNORECASE)


def read_reuters(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield one ``RawRecord`` per ``<REUTERS>`` block, in file order (ordinal 0, 1, ...).

    Text after the last complete block that is more than whitespace (a file cut
    part-way through a story) becomes one ``MALFORMED`` reject. A block larger
    than ``max_record_bytes`` is one reject: past the bound only its size is
    counted while the reader looks for its end tag.
    """
    ordinal = 0
    buffer = b""
    skipped = 0  # bytes of an oversized block already dropped (0: not skipping)
    excerpt = b""
    while True:
        chunk = stream.read(CHUNK)
        buffer += chunk
        while (end := buffer.find(_END)) != -1:
            block, buffer = buffer[: end + len(_END)], buffer[end + len(_END) :]
            locator = f"{location}#{ordinal}"
            start = block.find(_START)
            if skipped or len(block) > max_record_bytes:
                size = skipped + len(block)
                what = f"Block {ordinal} of {location}"
                yield oversized_reject(locator, ordinal, what, size, max_record_bytes, excerpt or block)
                skipped, excerpt = 0, b""
            elif start == -1:  # an end tag without a start: nothing readable
                yield _reject_fragment(block, location, ordinal, "a </REUTERS> end tag without its start tag")
            else:
                yield parse_block(block[start:].decode(ENCODING), locator, ordinal)
            ordinal += 1
        if len(buffer) > max_record_bytes + len(_END):
            # No end tag within the bound: keep counting, keep only what may start the end tag.
            keep = len(_END) - 1
            excerpt = excerpt or buffer[:RAW_EXCERPT_CHARS]
            skipped += len(buffer) - keep
            buffer = buffer[-keep:]
        if not chunk:
            break
    if skipped:
        what = f"Block {ordinal} of {location} (cut off: no end tag)"
        yield oversized_reject(
            f"{location}#{ordinal}", ordinal, what, skipped + len(buffer), max_record_bytes, excerpt
        )
    elif _START in buffer:
        yield _reject_fragment(
            buffer,
            location,
            ordinal,
            "a <REUTERS> story without its </REUTERS> end tag (the file is truncated)",
        )


def _reject_fragment(data: bytes, location: str, ordinal: int, what: str) -> Reject:
    text = data.decode(ENCODING)
    newid = _NEWID_RE.search(text[:300])
    return Reject(
        f"{location}#{ordinal}",
        ordinal,
        RejectReason.MALFORMED,
        f"Block {ordinal} is {what}{' (' + newid.group(0) + ')' if newid else ''}; it was skipped.",
        text.strip(),
    )


def parse_block(text: str, locator: str, ordinal: int) -> RawRecord:
    """Fields of one ``<REUTERS ...> ... </REUTERS>`` block (already decoded)."""
    start = _BLOCK_START_RE.search(text)
    attrs = dict(_ATTR_RE.findall(start.group("attrs"))) if start else {}
    text_match = _TEXT_RE.search(text)
    text_attrs = dict(_ATTR_RE.findall(text_match.group("attrs"))) if text_match else {}
    story = text_match.group("text") if text_match else ""
    published, precision = parse_date(_element(text, "DATE"))
    dateline = _one_line(_element(story, "DATELINE"))
    body_element = _element(story, "BODY")
    body, signed = reflow_body(_clean(body_element)) if body_element is not None else ("", False)
    author = _one_line(_element(story, "AUTHOR"))
    fields: RecordFields = {
        "title": _one_line(_element(story, "TITLE")),
        "body": body,
        "published": published,
        "published_precision": precision,
        "dateline": dateline,
        "dateline_place": dateline_place(dateline),
        "agency": "Reuters" if signed else None,
        "topics": _items(text, "TOPICS"),
        "persons": _items(text, "PEOPLE"),
        "places": _items(text, "PLACES"),
        "orgs": _items(text, "ORGS"),
        "exchanges": _items(text, "EXCHANGES"),
        "authors": [_author_name(author)] if author else [],
        "url": None,
        "newid": attrs.get("NEWID"),
        "oldid": attrs.get("OLDID"),
        "text_type": text_attrs.get("TYPE", "NORM").upper(),
        "encoding": ENCODING,
    }
    return RawRecord(locator, ordinal, FORMAT, fields, raw=text)


def _element(text: str, tag: str) -> str | None:
    """Raw content of the first ``<TAG>...</TAG>`` (``None`` when absent)."""
    open_at = text.find(f"<{tag}>")
    if open_at == -1:
        return None
    start = open_at + len(tag) + 2
    end = text.find(f"</{tag}>", start)
    return text[start:] if end == -1 else text[start:end]


def _clean(value: str) -> str:
    """Drop control-character references, unescape entities, unify line ends."""

    def control(match: re.Match[str]) -> str:
        code = int(match.group(1))
        if code in (9, 10):  # tab and newline keep their meaning
            return chr(code)
        return "" if code < 32 or 127 <= code < 160 else match.group(0)

    text = html.unescape(_CONTROL_REF_RE.sub(control, value))
    return _CONTROL_CHARS_RE.sub("", text.replace("\r\n", "\n"))


def _one_line(value: str | None) -> str | None:
    if value is None:
        return None
    text = _SPACES_RE.sub(" ", _clean(value)).strip()
    return text or None


def _items(text: str, tag: str) -> list[str]:
    content = _element(text, tag)
    if not content:
        return []
    return [item for item in (_one_line(d) for d in _D_RE.findall(content)) if item]


def _author_name(author: str) -> str:
    """``"by Janie Gabbett, Reuters"`` -> ``"Janie Gabbett"``."""
    match = _AUTHOR_RE.match(author)
    return (match.group("name").strip() if match else "") or author


def reflow_body(text: str) -> tuple[str, bool]:
    """Re-flow hard-wrapped lines into paragraphs; strip the ``Reuter`` signature.

    A line that starts with white space opens a paragraph, a blank line closes
    one, any other line continues the current paragraph. Returns the body
    (paragraphs joined by blank lines) and whether a signature was removed.
    """
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    signed = False
    if lines and _SIGNATURE_RE.match(lines[-1].strip()):
        lines.pop()
        signed = True
    elif lines and (tail := _SIGNATURE_TAIL_RE.search(lines[-1])):
        lines[-1] = lines[-1][: tail.start()]
        signed = True
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if current and (not line.strip() or line[:1].isspace()):
            paragraphs.append(" ".join(current))
            current = []
        if line.strip():
            current.append(_SPACES_RE.sub(" ", line.strip()))
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs), signed


def parse_date(value: str | None) -> tuple[str | None, str | None]:
    """``"26-FEB-1987 15:01:01.79"`` -> (ISO-8601 UTC string, precision).

    Precision is ``"second"``, or ``"day"`` when the time is missing or
    impossible. A value without a recognisable day is passed on verbatim so that
    normalisation rejects it with the value quoted.
    """
    text = _one_line(value)
    if not text:
        return None, None
    match = _DATE_RE.search(text)
    month = _MONTHS.get(match.group("mon").upper()) if match else None
    if match is None or month is None:
        return text, None
    try:
        day = datetime(int(match.group("year")), month, int(match.group("day")), tzinfo=UTC)
    except ValueError:
        return text, None
    if match.group("h") is not None:
        frac = (match.group("frac") or "0").ljust(6, "0")
        try:
            stamp = day.replace(
                hour=int(match.group("h")),
                minute=int(match.group("m")),
                second=int(match.group("s")),
                microsecond=int(frac),
            )
        except ValueError:
            pass
        else:
            return stamp.isoformat(), "second"
    return day.isoformat(), "day"


def dateline_place(dateline: str | None) -> str | None:
    """The place of a dateline: ``"BAHIA BLANCA, Argentina, Feb 26 -"`` -> ``"BAHIA BLANCA"``."""
    if not dateline:
        return None
    place = dateline.split(",", 1)[0] if "," in dateline else dateline.split(" - ", 1)[0]
    place = place.strip(" -")
    return place or None


def _sniff(head: bytes) -> bool:
    """An SGML ``<!DOCTYPE lewis`` declaration or a ``<REUTERS`` tag near the start."""
    return _SNIFF_RE.search(head[:4096]) is not None


SPEC = FormatSpec(FORMAT, read_reuters, (".sgm", ".sgml"), _sniff)
