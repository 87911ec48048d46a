"""Progress events of long work (ingest, backfill), for whoever shows them.

The runner and the flows report what they plan and finish to the current
observer; the CLI installs one that draws a progress bar or prints periodic
lines. Nothing here knows how progress is shown, and the default observer
does nothing, so library callers, tests and deployments pay nothing. The
observer is process-wide (not a parameter) because the CLI runs the flow in
its own process and Prefect flows take only serialisable parameters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl.counts import BatchCounts
    from etl.dumps import DumpFile, DumpResult


class ProgressObserver:
    """Receives progress events; every method is a no-op here. Calls may come from several threads."""

    def dumps_planned(self, dumps: Sequence[DumpFile]) -> None:
        """An ingest run knows its dump files (local paths; URLs are downloaded by now)."""

    def batch_loaded(self, location: str, counts: BatchCounts) -> None:
        """A batch of ``location`` is loaded; ``counts`` are the dump's totals so far."""

    def dump_finished(self, result: DumpResult) -> None:
        """A dump is done, skipped (already loaded) or failed."""

    def partitions_planned(self, total: int) -> None:
        """A backfill will run ``total`` partitions (days); each is an ingest run of its own."""

    def partition_finished(self, day: str, status: str) -> None:
        """One backfill partition finished with ``status`` (done, empty, failed)."""


_NOOP = ProgressObserver()
_current: ProgressObserver = _NOOP


def observer() -> ProgressObserver:
    """The observer events go to now (a no-op unless someone is watching)."""
    return _current


@contextmanager
def observing(obs: ProgressObserver) -> Iterator[ProgressObserver]:
    """Send this process's progress events to ``obs`` for the duration of the block."""
    global _current
    previous, _current = _current, obs
    try:
        yield obs
    finally:
        _current = previous


def read_position(path: Path) -> int | None:
    """How far this process has read into ``path`` (bytes), from Linux's /proc; None elsewhere.

    Readers stream a dump without reporting how far they are; the kernel knows
    the offset of every open file, which gives a time-left estimate inside one
    large dump (for a compressed dump, the offset in the compressed bytes).
    """
    try:
        target = str(path.resolve())
        best = None
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") != target:
                    continue
                with open(f"/proc/self/fdinfo/{fd}") as fh:
                    for line in fh:
                        if line.startswith("pos:"):
                            pos = int(line.split()[1])
                            best = pos if best is None else max(best, pos)
                            break
            except OSError:
                continue
        return best
    except OSError:
        return None
