"""The reader contract shared by every format module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from etl.records import RawRecord, Reject

Reader = Callable[[BinaryIO, str], Iterator[RawRecord | Reject]]


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """How to recognise and read one dump format.

    ``sniff`` gets the first bytes of the (decompressed) member, BOM removed, and
    says whether the content is this format; ``extensions`` (lowercase, with the
    dot) make a format the first candidate for a file name.
    """

    name: str
    reader: Reader
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool]
