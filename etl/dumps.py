"""Dump files: finding them on disk, their provenance, and what loading one did.

Sources produce ``DumpFile``s and the pipeline consumes them; both import this
module, so neither depends on the other.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from etl.counts import BatchCounts
from etl.errors import TerminalError
from etl.names import printable


@dataclass(slots=True)
class DumpResult:
    location: str
    source: str
    format: str | None
    status: str  # "loaded" | "skipped" (already in the ledger) | "resumed"
    counts: BatchCounts = field(default_factory=BatchCounts)
    seconds: float = 0.0
    dump_id: int | None = None
    prepare_seconds: float = 0.0


@dataclass(slots=True)
class DumpFile:
    """A dump on local disk plus its provenance.

    ``location`` is what users know it by (a path, or the URL it was fetched from);
    ``refusal`` says why a fetched file is not a dump at all (it becomes one reject);
    ``settle`` is called after the load with success or failure (a landing folder
    moves the file to processed/ or failed/).
    """

    path: Path
    location: str
    etag: str | None = None
    last_modified: str | None = None
    refusal: str | None = None
    settle: Callable[[bool], object] | None = None

    def __post_init__(self) -> None:
        # A non-UTF-8 file name is stored and shown as caf\xe9.jsonl, never with surrogates.
        self.location = printable(self.location)


DOCUMENTATION_NAMES = frozenset({"readme", "license", "licence", "copying", "citation", "notice"})


def is_documentation(path: Path) -> bool:
    """``README.TXT``, ``LICENSE``, ``CITATION.cff``...: a corpus's notes, not a dump.

    Skipped when a folder is walked (a dataset folder such as the BBC one ships a
    README.TXT beside its articles); a file named directly is always read.
    """
    return path.name.split(".", 1)[0].lower() in DOCUMENTATION_NAMES


def discover(locations: Iterable[str]) -> list[DumpFile]:
    """Files named directly, every file under a folder (sorted; hidden and documentation files
    skipped, see :func:`is_documentation`), or a glob.

    A location that matches nothing is an error: a typo must not look like an empty day.
    """
    found: list[DumpFile] = []
    seen: set[Path] = set()
    for loc in locations:
        path = Path(loc).expanduser()
        if path.is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not is_documentation(p)
            )
        else:
            candidates = sorted(Path(p) for p in glob.glob(os.path.expanduser(loc), recursive=True))
            candidates = [p for p in candidates if p.is_file()]
            if not candidates:
                raise TerminalError(f"{loc}: no such file, folder or matching glob")
        for p in candidates:
            resolved = p.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(DumpFile(path=p, location=str(p)))
    return found
