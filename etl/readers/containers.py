"""Opening dump files: plain files now; compressed files and archives plug in here."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etl.records import Reject

BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Member:
    """One readable file inside a dump: the dump itself, or a file in an archive.

    ``name`` is used for format detection by extension; ``location`` prefixes the
    locators of its records; ``open()`` gives a buffered binary stream with ``peek``.
    """

    name: str
    location: str
    open: Callable[[], AbstractContextManager[BinaryIO]]


def iter_members(path: Path, location: str) -> Iterator[Member | Reject]:
    def opener() -> AbstractContextManager[BinaryIO]:
        return io.BufferedReader(io.FileIO(path, "rb"), buffer_size=BUFFER)

    yield Member(name=path.name, location=location, open=opener)
