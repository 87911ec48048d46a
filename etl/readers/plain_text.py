"""Reader for plain-text articles, one article per file (the BBC News dataset layout).

::

    Ad sales boost Time Warner profit          <- first non-blank line: the title
                                               <- a blank line
    Quarterly profits at US media giant ...    <- paragraphs, separated by blank lines
    ...

The whole file is one record: the title is its first non-blank line and the body
everything after it, paragraph breaks kept. There is no date in such a file,
so ``published`` stays empty and ``published_at`` is NULL (normalisation allows a
missing date; the file's modification time says when it was copied, not when the
story ran, so it is not used). The locator is the file's own location
(``bbc/sport/199.txt#0``), which is how people find the article again.

Bytes are decoded with :func:`etl.readers.encoding.decode_bytes` (UTF-8, else
cp1252/Latin-1: BBC ``sport/199.txt`` is Latin-1), and ``fields["encoding"]``
names the encoding used.

Detection: plain text has no signature, so the format is only considered for
files named ``.txt``/``.text`` (``FormatSpec.needs_extension``), after TASS,
whose ``date YYYY-MM-DD`` header is a signature. The content must look like the
layout: a title line of at most :data:`MAX_TITLE_BYTES`, a blank line, then text,
with no control bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, oversized_reject, skip_rest
from etl.readers.encoding import decode_bytes
from etl.records import RawRecord, RecordFields, Reject, RejectReason

FORMAT = "text"
MAX_TITLE_BYTES = 300

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TASS_HEADER = re.compile(rb"^\s*date \d{4}-\d{2}-\d{2}")


def read_text(
    stream: BinaryIO, location: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawRecord | Reject]:
    """Yield the one ``RawRecord`` (or ``Reject``) of a plain-text article file."""
    locator = f"{location}#0"
    data = stream.read(max_record_bytes + 1)
    if len(data) > max_record_bytes:
        size = len(data) + skip_rest(stream)
        yield oversized_reject(locator, 0, f"The article file {location}", size, max_record_bytes, data)
        return
    text, encoding = decode_bytes(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    title, _, body = text.strip().partition("\n")
    if not title.strip():
        yield Reject(locator, 0, RejectReason.MISSING_BODY, f"The text file {location} is empty.", text)
        return
    fields: RecordFields = {
        "title": title.strip(),
        "body": body.strip(),
        "published": None,
        "encoding": encoding,
    }
    yield RawRecord(locator, 0, FORMAT, fields, raw=text)


def _sniff(head: bytes) -> bool:
    """A short title line, a blank line, then text; no control bytes; not a TASS header.

    A first byte that opens JSON or markup (``{``, ``[``, ``<``) is left to those
    formats' sniffers, which a ``.txt`` name would otherwise let this one pre-empt.
    """
    if not head.strip() or _CONTROL.search(head) or _TASS_HEADER.match(head):
        return False
    if head.lstrip()[:1] in (b"{", b"[", b"<"):
        return False
    lines = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    start = next(i for i, line in enumerate(lines) if line.strip())
    rest = lines[start + 1 :]
    return (
        len(lines[start].strip()) <= MAX_TITLE_BYTES
        and len(rest) >= 2
        and not rest[0].strip()
        and any(line.strip() for line in rest[1:])
    )


SPEC = FormatSpec(FORMAT, read_text, (".txt", ".text"), _sniff, needs_extension=True)
