"""The reader contract shared by every format module, and the record size bound they all apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from etl.records import RAW_EXCERPT_CHARS, RawRecord, Reject, RejectReason

#: The default of ``[ingest] max_record_bytes``: far above any real article (a long
#: feature is 50-100 KB of text, a WARC page a few MB), small enough that one broken
#: record cannot take the memory of a worker.
DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024
SKIP_CHUNK = 1024 * 1024


class Reader(Protocol):
    """``reader(stream, location, max_record_bytes)``: bytes in, ``RawRecord | Reject`` out.

    Every reader turns a record larger than ``max_record_bytes`` into one reject
    (see :func:`oversized_reject`) and goes on with the next record, without
    holding the oversized record whole where its format allows that.
    """

    def __call__(
        self, stream: BinaryIO, location: str, max_record_bytes: int = ..., /
    ) -> Iterator[RawRecord | Reject]: ...


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """How to recognise and read one dump format.

    ``sniff`` gets the first bytes of the (decompressed) member, BOM removed, and
    says whether the content is this format; ``extensions`` (lowercase, with the
    dot) make a format the first candidate for a file name. A format without a
    signature of its own (plain text) sets ``needs_extension``: it is then tried
    only for files whose extension names it, never by content alone.
    """

    name: str
    reader: Reader
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    needs_extension: bool = False


def oversized_reject(
    locator: str, ordinal: int, what: str, size: int, limit: int, head: bytes | str = b""
) -> Reject:
    """The reject for a record over ``max_record_bytes``: its size and the limit, in a sentence.

    ``size`` is the record's size in bytes as far as it is known (at least ``limit + 1``).
    """
    excerpt = head[:RAW_EXCERPT_CHARS]
    if isinstance(excerpt, bytes):
        excerpt = excerpt.decode("utf-8", errors="replace")
    return Reject(
        locator,
        ordinal,
        RejectReason.OVERSIZED,
        f"{what} is {size:,} bytes, more than the {limit:,} bytes a record may have "
        "([ingest] max_record_bytes); it was not read, and reading went on with the next record.",
        excerpt,
    )


def skip_rest(stream: BinaryIO) -> int:
    """Read ``stream`` to its end in bounded chunks; the number of bytes skipped."""
    skipped = 0
    while chunk := stream.read(SKIP_CHUNK):
        skipped += len(chunk)
    return skipped


def skip_line(stream: BinaryIO) -> tuple[int, bool]:
    """Skip to just after the next newline in bounded pieces: (bytes skipped, newline found)."""
    skipped = 0
    while piece := stream.readline(SKIP_CHUNK):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            return skipped, True
    return skipped, False
