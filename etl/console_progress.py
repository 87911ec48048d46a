"""How the CLI shows progress: a live bar on a terminal, periodic plain lines otherwise.

The bar shows dumps done / total, records loaded, records/s and time left; the
time left comes from bytes (dump sizes, plus how far the reader is into the
current dump), since a streamed dump's record count is known only at its end.
A backfill's bar counts days instead. Before the flow starts, the same line is
a spinner saying what it waits for (Prefect's start takes 10 s to minutes on a
busy machine). Piped output gets one plain line every ``interval`` seconds and
a last one at the end, never one per file or batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from etl.counts import BatchCounts
from etl.dumps import DumpFile, DumpResult
from etl.progress import ProgressObserver, read_position

BAR, LINES, QUIET = "bar", "lines", "quiet"


def choose_mode(console: Console, quiet: bool) -> str:
    if quiet:
        return QUIET
    return BAR if console.is_terminal and not console.is_dumb_terminal else LINES


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ConsoleProgress(ProgressObserver):
    """The CLI's progress observer; use as a context manager around the run."""

    def __init__(self, console: Console, mode: str, *, interval: float = 10.0, what: str = "ingest"):
        self.console = console
        self.mode = mode
        self.interval = interval
        self.what = what
        self._lock = threading.Lock()
        self._created = time.monotonic()
        self._started: float | None = None  # first event of the flow: Prefect is up
        self._last_line = 0.0
        self._sizes: dict[str, int] = {}
        self._paths: dict[str, Path] = {}
        self._seen: dict[str, int] = {}  # records loaded so far, per dump location
        self.dumps_total = 0
        self.dumps_done = 0
        self.bytes_total = 0
        self.bytes_done = 0
        self.records = 0
        self.partitions_total: int | None = None
        self.partitions_done = 0
        self._progress: Progress | None = None
        self._task = None

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> ConsoleProgress:
        if self.mode == BAR:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=self.console,
                transient=False,
                refresh_per_second=4,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "starting Prefect (local ephemeral server)", total=None, detail=""
            )
        elif self.mode == LINES:
            self._line("starting Prefect (local ephemeral server; its first start takes ~10-15 s)")
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._started is not None:
                self._update(final=True)
            if self._progress is not None:
                self._progress.stop()

    def waiting(self, what: str) -> None:
        """Before the flow runs: say what the start-up waits for (the spinner's text)."""
        if self._started is not None:
            return
        if self._progress is not None:
            self._progress.update(self._task, description=what)
        # piped output: the first line and "Prefect ready after N s" say enough

    # --- events from the run ---------------------------------------------------------------

    def dumps_planned(self, dumps: Sequence[DumpFile]) -> None:
        with self._lock:
            self._begin()
            for d in dumps:
                try:
                    size = d.path.stat().st_size
                except OSError:
                    size = 0
                self._sizes[d.location] = size
                self._paths[d.location] = d.path
                self.bytes_total += size
            self.dumps_total += len(dumps)
            self._update(force=True)

    def batch_loaded(self, location: str, counts: BatchCounts) -> None:
        with self._lock:
            self._begin()
            self.records += counts.records - self._seen.get(location, 0)
            self._seen[location] = counts.records
            self._update()

    def dump_finished(self, result: DumpResult) -> None:
        with self._lock:
            self.dumps_done += 1
            self.bytes_done += self._sizes.pop(result.location, 0)
            self._paths.pop(result.location, None)
            self._seen.pop(result.location, None)
            self._update()

    def partitions_planned(self, total: int) -> None:
        with self._lock:
            self._begin()
            self.partitions_total = total
            self._update(force=True)

    def partition_finished(self, day: str, status: str) -> None:
        with self._lock:
            self.partitions_done += 1
            self._update()

    # --- drawing ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._started is None:
            self._started = time.monotonic()
            waited = self._started - self._created
            if self.mode == LINES:
                self._line(f"Prefect ready after {waited:.1f} s")
            elif self._progress is not None:
                self._progress.reset(self._task, total=1, completed=0, description=self.what, detail="")

    def fraction(self) -> float | None:
        """How much of the work is done, 0..1 (days for a backfill, bytes for an ingest)."""
        if self.partitions_total is not None:
            return self.partitions_done / self.partitions_total if self.partitions_total else 1.0
        if not self.bytes_total:
            return None
        inflight = 0
        for location, path in self._paths.items():
            pos = read_position(path)
            if pos:
                inflight += min(pos, self._sizes.get(location, 0))
        return min(1.0, (self.bytes_done + inflight) / self.bytes_total)

    def status(self) -> dict[str, object]:
        elapsed = time.monotonic() - (self._started or time.monotonic())
        frac = self.fraction()
        left = elapsed * (1 - frac) / frac if frac and frac > 0.001 and elapsed > 1 else None
        if frac == 1.0:
            left = 0.0
        return {
            "elapsed": elapsed,
            "fraction": frac,
            "rate": self.records / elapsed if elapsed > 0 else 0.0,
            "left": left,
        }

    def _counts_text(self, s: dict[str, object]) -> str:
        parts = []
        if self.partitions_total is not None:
            parts.append(f"{self.partitions_done}/{self.partitions_total} days")
        parts += [
            f"{self.dumps_done}/{self.dumps_total} dumps",
            f"{self.records:,} records",
            f"{s['rate']:,.0f} records/s",
        ]
        return ", ".join(parts)

    def _update(self, *, force: bool = False, final: bool = False) -> None:
        s = self.status()
        if self._progress is not None:
            frac = s["fraction"]
            self._progress.update(
                self._task,
                total=1,
                completed=frac if frac is not None else 0,
                detail=f"{self._counts_text(s)}, {_clock(s['left'])} left",
            )
        elif self.mode == LINES:
            now = time.monotonic()
            if final or force or now - self._last_line >= self.interval:
                frac = s["fraction"]
                pct = f"{100 * frac:.0f} %, " if frac is not None else ""
                tail = f"done in {s['elapsed']:.1f} s" if final else f"{pct}{_clock(s['left'])} left"
                self._line(f"{self.what}: {self._counts_text(s)}, {tail}")

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


class PrefectStartWatcher(logging.Handler):
    """Turns Prefect's start-up log records into the spinner's text (what it waits for now)."""

    def __init__(self, progress: ConsoleProgress):
        super().__init__(level=logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage().splitlines()[0]
        except Exception:  # a broken log record must not break the run
            return
        if "temporary server" in msg.lower() or "starting server" in msg.lower():
            self.progress.waiting(f"waiting for Prefect: {msg.rstrip('.')}")
        elif msg.startswith("Beginning flow run") or "Created flow run" in msg:
            self.progress.waiting(f"flow run started: {msg}")
