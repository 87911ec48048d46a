"""Picking dumps up from a landing folder, safely when writers and runs overlap.

A file is taken only when it is complete: names ending in ``.part``/``.tmp``
(the usual "still uploading" conventions) and files modified less than
``stable_seconds`` ago are left for the next run. With ``after = "move"`` a file
is *claimed* by an atomic rename into ``.newsetl-claimed/`` (two runs cannot
both win the rename), and after the load it moves to ``processed/`` or
``failed/``. A claimed file left behind by a crashed run (claimed more than
``reclaim_after_seconds`` ago) is picked up again by a later run; the ledger and
the per-batch resume point make that exact. With
``after = "leave"`` files stay where they are and the sha256 ledger alone keeps
re-runs from loading them twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etl.sources.config import FolderSource

log = logging.getLogger("newsetl.folder")

CLAIM_DIR = ".newsetl-claimed"
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


@dataclass(frozen=True, slots=True)
class ClaimedFile:
    path: Path  # where it is now (inside the claim folder when claimed)
    original: Path  # where it landed


def _candidates(src: FolderSource, root: Path) -> Iterator[Path]:
    pattern = f"**/{src.pattern}" if src.recursive else src.pattern
    skip = {CLAIM_DIR, src.processed_dir, src.failed_dir}
    for path in sorted(root.glob(pattern)):
        rel = path.relative_to(root).parts
        if not path.is_file() or rel[0] in skip or any(p.startswith(".") for p in rel):
            continue
        if path.name.endswith(IN_PROGRESS_SUFFIXES):
            continue
        yield path


def claim(src: FolderSource, now: float | None = None) -> list[ClaimedFile]:
    """Files ready to load, claimed for this run (see the module docstring)."""
    root = Path(src.path).expanduser()
    if not root.is_dir():
        from etl.errors import TerminalError

        raise TerminalError(f"sources.{src.name}.path {root} is not a folder")
    now = time.time() if now is None else now
    claimed: list[ClaimedFile] = []
    claim_dir = root / CLAIM_DIR
    if src.after == "move" and claim_dir.is_dir():
        # Left by a run that crashed before moving them on: load them again (resumable).
        # The rename that claimed a file set its ctime, so a recent claim belongs to a
        # run that is still going.
        for stale in sorted(p for p in claim_dir.rglob("*") if p.is_file()):
            try:
                claimed_at = stale.stat().st_ctime
            except FileNotFoundError:
                continue
            if now - claimed_at >= src.reclaim_after_seconds:
                claimed.append(ClaimedFile(stale, root / stale.relative_to(claim_dir)))
    for path in _candidates(src, root):
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue  # taken by another run meanwhile
        if age < src.stable_seconds:
            log.info("%s: modified %.1f s ago, still being written? left for the next run", path, age)
            continue
        if src.after == "leave":
            claimed.append(ClaimedFile(path, path))
            continue
        target = claim_dir / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, target)  # atomic on one file system: exactly one run wins
        except FileNotFoundError:
            continue
        claimed.append(ClaimedFile(target, path))
    return claimed


def settle(src: FolderSource, item: ClaimedFile, ok: bool) -> Path | None:
    """After the load: move a claimed file to ``processed/`` or ``failed/``; returns where it went.

    None when the file stays where it is (``after = "leave"``), so nobody logs a move.
    """
    if src.after == "leave":
        return None
    root = Path(src.path).expanduser()
    dest_root = root / (src.processed_dir if ok else src.failed_dir)
    dest = dest_root / item.original.relative_to(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest = dest.with_name(f"{dest.stem}.{int(time.time())}{dest.suffix}")
    try:
        os.replace(item.path, dest)
    except FileNotFoundError:  # a reclaiming run already moved it on
        log.info("%s was already moved on by another run", item.path)
    return dest
