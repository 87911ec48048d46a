"""Readers turn a dump file into a stream of ``RawRecord | Reject``.

One module per format; :data:`READERS` is the registry that format detection
and the pipeline use, so adding a format means adding a module and one entry.
Every reader has the same signature, ``reader(stream: BinaryIO, location: str)``:
it gets bytes (decoding is the reader's business, because formats differ in how
they may be encoded) and the dump's location, which prefixes every locator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from etl.errors import TerminalError
from etl.readers.jsonl import read_jsonl
from etl.readers.tass import read_tass
from etl.records import RawRecord, Reject

Reader = Callable[[BinaryIO, str], Iterator[RawRecord | Reject]]

READERS: dict[str, Reader] = {"tass": read_tass, "jsonl": read_jsonl}

HEAD_BYTES = 64 * 1024
_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_TASS_HEADER = re.compile(rb"^\s*date \d{4}-\d{2}-\d{2}")

__all__ = ["READERS", "Reader", "detect_format", "read_dump"]


def detect_format(path: Path, head: bytes) -> str:
    """Name the reader for a dump from its extension and its first bytes.

    ``.jsonl``/``.ndjson``/``.json`` whose first non-space byte is ``{`` is JSON
    Lines; ``.txt``, or any file whose first non-blank line is a TASS
    ``date YYYY-MM-DD`` header, is TASS text. Anything else is refused rather
    than guessed, because a wrong guess turns a whole dump into rejects.
    """
    head = head.removeprefix(b"\xef\xbb\xbf")
    suffix = path.suffix.lower()
    stripped = head.lstrip()
    if suffix in _JSON_SUFFIXES and stripped.startswith(b"{"):
        return "jsonl"
    first_line = stripped.splitlines()[0] if stripped else b""
    if suffix == ".txt" or _TASS_HEADER.match(first_line):
        return "tass"
    if suffix in _JSON_SUFFIXES and stripped.startswith(b"["):
        raise TerminalError(
            f"{path} holds a JSON array; only JSON Lines (one object per line) is "
            "supported. Convert it, e.g. with `jq -c '.[]'`, and name it .jsonl."
        )
    raise TerminalError(
        f"Cannot tell the format of {path}: expected a .jsonl/.ndjson/.json file of "
        "JSON objects or a TASS text file (.txt, or starting with a 'date YYYY-MM-DD' "
        f"line). Pass the format explicitly; known formats: {', '.join(sorted(READERS))}."
    )


def read_dump(path: Path, format: str = "auto", location: str | None = None) -> Iterator[RawRecord | Reject]:
    """Stream the records of one dump file.

    The format is checked (and detected, for ``"auto"``) before this returns, so a
    bad format fails at once instead of on the first ``next()``. The file stays
    open only while the returned iterator is consumed.
    """
    path = Path(path)
    if format != "auto" and format not in READERS:
        raise TerminalError(
            f"Unknown dump format {format!r}; known formats: auto, {', '.join(sorted(READERS))}."
        )
    if not path.is_file():
        raise TerminalError(f"Dump file {path} does not exist or is not a regular file.")
    if format == "auto":
        with path.open("rb") as stream:
            format = detect_format(path, stream.read(HEAD_BYTES))
    return _read(READERS[format], path, location if location is not None else str(path))


def _read(reader: Reader, path: Path, location: str) -> Iterator[RawRecord | Reject]:
    """Open the file for the lifetime of the iteration (a generator, so lazily)."""
    with path.open("rb") as stream:
        yield from reader(stream, location)
