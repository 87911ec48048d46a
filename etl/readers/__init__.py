"""Readers turn a dump file into a stream of ``RawRecord | Reject``.

One module per format, each declaring a :class:`FormatSpec` named ``SPEC``
(reader, file extensions, a content sniffer). :data:`FORMAT_MODULES` lists them
in sniffing order; adding a format means adding a module and one name here.
Every reader has the same signature,
``reader(stream: BinaryIO, location: str, max_record_bytes: int)``: it gets bytes
(decoding is the reader's business, because formats differ in how they may be
encoded), a location that prefixes every locator, and the size bound of one
record (``[ingest] max_record_bytes``; a bigger record is one reject).

:func:`read_dump` opens containers (compressed files, zip and tar archives, see
:mod:`etl.readers.containers`), detects the format of each member, numbers
records across members so ordinals are unique in the dump, and turns a member
that breaks part-way (a truncated gzip, a torn last line) into one reject after
the records read before the break.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath

from etl.errors import TerminalError
from etl.readers.base import DEFAULT_MAX_RECORD_BYTES, FormatSpec, Reader
from etl.records import RawRecord, Reject, RejectReason

# Sniffing order: the most specific content tests first.
FORMAT_MODULES = (
    "etl.readers.warc",
    "etl.readers.reuters",
    "etl.readers.feeds",
    "etl.readers.json_array",
    "etl.readers.jsonl",
    "etl.readers.csv_dump",
    "etl.readers.tass",
    "etl.readers.plain_text",  # no signature: after TASS, and only for .txt/.text names
)

HEAD_BYTES = 64 * 1024
UNEXPECTED = "the reader failed unexpectedly"


def _load_specs() -> dict[str, FormatSpec]:
    specs: dict[str, FormatSpec] = {}
    for name in FORMAT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a format not built yet; its dependencies must exist
                continue
            raise
        spec: FormatSpec = module.SPEC
        specs[spec.name] = spec
    return specs


SPECS: dict[str, FormatSpec] = _load_specs()
READERS: dict[str, Reader] = {name: spec.reader for name, spec in SPECS.items()}

__all__ = ["READERS", "SPECS", "FormatSpec", "Reader", "UnknownFormatError", "detect_format", "read_dump"]


class UnknownFormatError(TerminalError):
    """No reader recognises a file; passing ``--format`` (or a newer reader) may still read it."""


def detect_format(path: Path | str, head: bytes) -> str:
    """Name the reader for a file from its extension and its first bytes.

    Formats whose extension matches are tried first, then every format by
    content. Anything unrecognised is refused rather than guessed, because a
    wrong guess turns a whole dump into rejects.
    """
    head = head.removeprefix(b"\xef\xbb\xbf")
    name = PurePosixPath(str(path)).name.lower()
    by_extension = [s for s in SPECS.values() if any(name.endswith(e) for e in s.extensions)]
    by_content = [s for s in SPECS.values() if s not in by_extension and not s.needs_extension]
    for spec in by_extension + by_content:
        if spec.sniff(head):
            return spec.name
    raise UnknownFormatError(
        f"cannot tell the format of {path}: it is none of {', '.join(SPECS)} "
        "(by extension and content). Pass --format if you know it."
    )


def check_format(format: str) -> None:
    if format != "auto" and format not in SPECS:
        raise TerminalError(f"unknown dump format {format!r}; known formats: auto, {', '.join(SPECS)}")


def read_dump(
    path: Path | str,
    format: str = "auto",
    location: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    members: Collection[str] | None = None,
    first_ordinal: int = 0,
) -> Iterator[RawRecord | Reject]:
    """Stream the records of one dump file, containers included.

    The format name and the file are checked before this returns, so a typo
    fails at once instead of on the first ``next()``. A record larger than
    ``max_record_bytes`` becomes one ``OVERSIZED`` reject. ``members`` (member
    locations) limits reading to those members, numbered from ``first_ordinal``:
    that is how a dump whose format could not be told is read again later.
    """
    path = Path(path)
    check_format(format)
    if not path.is_file():
        raise TerminalError(f"dump file {path} does not exist or is not a regular file")
    where = location if location is not None else str(path)
    wanted = None if members is None else frozenset(members)
    return _read_members(path, format, where, max_record_bytes, wanted, first_ordinal)


def _read_members(
    path: Path,
    format: str,
    location: str,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    members: frozenset[str] | None = None,
    first_ordinal: int = 0,
) -> Iterator[RawRecord | Reject]:
    from etl.readers.containers import iter_members

    ordinal = first_ordinal
    for member in iter_members(path, location):
        if members is not None:
            name = member.locator.rsplit("#", 1)[0] if isinstance(member, Reject) else member.location
            if name not in members:
                continue
        if isinstance(member, Reject):
            member.ordinal = ordinal
            ordinal += 1
            yield member
            continue
        for item in _read_member(member, format, max_record_bytes):
            item.ordinal = ordinal
            ordinal += 1
            yield item


def _read_member(member, format: str, max_record_bytes: int) -> Iterator[RawRecord | Reject]:
    """Records of one member; a failure part-way becomes one reject after what was read."""
    read = 0
    try:
        with member.open() as stream:
            if format == "auto":
                head = stream.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(stream, "peek") else b""
                fmt = detect_format(member.name, head)
            else:
                fmt = format
            for item in SPECS[fmt].reader(stream, member.location, max_record_bytes):
                read += 1
                yield item
    except UnknownFormatError as exc:
        reason = f"could not be read: {exc} The dump is kept open: a later run with --format reads it."
        yield Reject(f"{member.location}#0", 0, RejectReason.UNKNOWN_FORMAT, reason)
    except TerminalError as exc:
        yield Reject(f"{member.location}#0", 0, RejectReason.UNREADABLE, f"could not be read: {exc}")
    except (OSError, EOFError, ValueError) as exc:
        from etl.readers.containers import DecompressionLimitError

        where = f"after {read} record(s)" if read else "before any record"
        if isinstance(exc, DecompressionLimitError):
            reason = f"{member.location}: reading stopped {where}: {exc}"
        else:
            reason = (
                f"{member.location} is truncated or corrupt {where}: {type(exc).__name__}: {exc}; "
                "the records before the damage were kept"
            )
        yield Reject(f"{member.location}#{read}", read, RejectReason.UNREADABLE, reason)
    except Exception as exc:  # a reader bug must cost the rest of one member, not the whole dump
        where = f"after {read} record(s)" if read else "before any record"
        reason = (
            f"{member.location}: {UNEXPECTED} {where} ({type(exc).__name__}: {exc}); the records before "
            "were kept. This is a bug in newsetl: please report it with this file."
        )
        yield Reject(f"{member.location}#{read}", read, RejectReason.UNREADABLE, reason)
