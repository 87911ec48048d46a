"""The steps of an ingest run, as plain functions over one :class:`IngestRun`.

A run is: ``start_run`` -> ``mark_partition_running`` (a source's day) ->
``plan_dumps`` -> for each dump ``claim_dump`` -> ``read_batches`` ->
``load_batches`` (prepare + load, pipelined) -> ``finish_dump`` (or ``fail_dump``)
-> ``settle_dump`` -> ``record_result``; then ``finish_run`` and ``record_partition``.
etl.runner composes them as plain calls; flows.ingest composes the same steps
with the per-dump ones as Prefect tasks, so the flow is this run made visible,
and the runner is the same run without Prefect.

The error policy lives in the steps, not in the composition: one bad dump never
stops the others (``fail_dump`` records it and the run goes on), and once the
warehouse stayed away for a whole retry window the remaining dumps are marked
not attempted (``skip_dump``) instead of each failing in turn.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from etl.backfill import record_outcome
from etl.batches import PreparedBatch, inline_prepare
from etl.checkpoints import checkpoint
from etl.config import Settings
from etl.counts import BatchCounts
from etl.dumps import DumpFile, DumpResult
from etl.errors import WarehouseUnavailable, describe_db_error, is_transient
from etl.heap import frozen_between_batches
from etl.names import dump_name, printable
from etl.pipeline import (
    BatchRef,
    LoadFn,
    ProgressFn,
    SubmitPrepareFn,
    batched,
    detect_plain,
    handling,
    load_prepared,
    resume_after,
    sha256_file,
    watch_encodings,
    watch_unknown_format,
)
from etl.progress import ProgressObserver, observer
from etl.readers import read_dump
from etl.records import RawRecord, Reject, RejectReason
from etl.redact import redact_text, redact_url
from etl.sources import get_source, plan
from etl.summary import RunSummary
from etl.warehouse import ledger, partitions
from etl.warehouse.db import describe
from etl.warehouse.retry import RetryPolicy
from etl.warehouse.schema import prepare_warehouse

log = logging.getLogger("newsetl")

Logger = logging.Logger | logging.LoggerAdapter


@dataclass(frozen=True, slots=True)
class Partition:
    """The (source, day) a run ingests when it is given a configured source and no locations."""

    source: str
    day: date

    @property
    def label(self) -> str:
        return f"{self.source} {self.day.isoformat()}"


def partition_of(
    locations: Sequence[str], source: str | None, day: date | None, config_path: str | None
) -> Partition | None:
    """The partition a run fills: a source's day (today in its zone without one), else None."""
    if locations or not source:
        return None
    return Partition(source, day or get_source(source, config_path).today())


class IngestRun:
    """What every step of one ingest run needs: warehouse, settings, run id, retries, summary.

    A plain class, not a dataclass: Prefect walks dataclass task arguments looking
    for futures, and this holds an engine and every dump's result.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        locations: Sequence[str] = (),
        source: str | None = None,
        fmt: str = "auto",
        partition: Partition | None = None,
        run_id: str | None = None,
        logger: Logger = log,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.locations = list(locations)
        self.source = source
        self.fmt = fmt
        self.partition = partition
        self.run_id = run_id or str(uuid.uuid4())
        self.logger = logger
        self.retry = RetryPolicy(window=settings.warehouse.retry_seconds)
        self.summary = RunSummary(run_id=self.run_id, warehouse=describe(engine))
        self.started = time.perf_counter()
        self.recorded = False  # the runs row exists (start_run got through)
        self.partition_counted = False  # mark_partition_running got through
        self.unavailable: str | None = None  # set once the warehouse stayed away a whole window
        self.watcher: ProgressObserver = observer()

    @property
    def label(self) -> str:
        """``tass_daily 2024-03-04`` or ``crawl.jsonl +2 more``: what the run handles, for names."""
        if self.partition:
            return self.partition.label
        if self.locations:
            more = f" +{len(self.locations) - 1} more" if len(self.locations) > 1 else ""
            return f"{dump_name(self.locations[0])}{more}"
        return self.source or ""


@dataclass(slots=True)
class PlannedDump:
    """A dump file to load and the source it is recorded under."""

    dump: DumpFile
    source: str

    @property
    def label(self) -> str:
        return dump_name(self.dump.location)


class ClaimedDump:
    """A dump claimed in the ledger: its row, its result so far, and what its reading noticed."""

    def __init__(
        self,
        planned: PlannedDump,
        state: ledger.DumpState,
        result: DumpResult,
        reread: list[str] | None,
        started: float,
    ) -> None:
        self.planned = planned
        self.started = started
        self.state = state
        self.result = result
        self.reread = reread  # members re-read after "unknown_format", else None
        self.unknown_format_seen = False
        self.encodings: dict[str, int] = {}

    @property
    def skipped(self) -> bool:
        return self.result.status == "skipped"

    @property
    def label(self) -> str:
        return self.planned.label


def failure_text(exc: BaseException) -> str:
    """One printable line for the summary, the log and ``runs.error``, URL credentials redacted."""
    text = describe_db_error(exc) if is_transient(exc) else f"{type(exc).__name__}: {exc}"
    return printable(redact_text(text))


def default_source(dump: DumpFile) -> str:
    """Without ``--source`` a dump is named after its folder: ``inbox/tass/x.txt`` -> ``tass``."""
    return printable(dump.path.resolve().parent.name) or "local"


def start_run(run: IngestRun) -> None:
    """Prepare the warehouse, mark dead runs abandoned, and record this run as running."""
    retry, logger = run.retry, run.logger
    retry.call(
        prepare_warehouse, run.engine, run.settings.dedup, what="preparing the warehouse", logger=logger
    )
    abandoned = retry.call(
        ledger.abandon_stale_runs, run.engine, what="checking for dead runs", logger=logger
    )
    for old in abandoned:
        logger.warning("run %s was left running by a process that died: marked abandoned", old)
    run.summary.abandoned = abandoned
    day = run.partition.day if run.partition else None
    parameters = {
        "locations": [printable(redact_url(loc)) for loc in run.locations],
        "source": run.source,
        "format": run.fmt,
        "date": day.isoformat() if day else None,
    }
    retry.call(
        ledger.start_run,
        run.engine,
        run.run_id,
        "ingest",
        parameters,
        what="recording the run",
        logger=logger,
    )
    run.recorded = True


def mark_partition_running(run: IngestRun) -> None:
    """Count an attempt at the run's day; by this run once its row exists (a foreign key), else by none."""
    if run.partition is None:
        return
    if not run.recorded:  # the partition table must exist even when recording the run failed
        run.retry.call(
            prepare_warehouse,
            run.engine,
            run.settings.dedup,
            what="preparing the warehouse",
            logger=run.logger,
        )
    run.retry.call(
        partitions.mark_running,
        run.engine,
        run.partition.source,
        run.partition.day,
        run.run_id if run.recorded else None,
        what="marking the day running",
        logger=run.logger,
    )
    run.partition_counted = True


def plan_dumps(
    run: IngestRun, *, config_path: str | None = None, resolve_secret: Callable[[str], str] | None = None
) -> list[PlannedDump]:
    """Resolve the run's locations (or its source's day) into dump files on disk; URLs are fetched."""
    day = run.partition.day if run.partition else None
    planned = plan(
        run.engine,
        run.locations,
        source=run.source,
        day=day,
        config_path=config_path,
        fmt=run.fmt,
        resolve_secret=resolve_secret,
    )
    run.summary.notes.extend(planned.notes)
    for location, note in planned.notes:
        run.logger.info("%s: %s", location, note)
    run.logger.info("ingesting %d dump file(s) into %s", len(planned.dumps), run.summary.warehouse)
    run.watcher.dumps_planned(planned.dumps)
    return [
        PlannedDump(d, planned.source_names.get(d.location) or run.source or default_source(d))
        for d in planned.dumps
    ]


def claim_dump(run: IngestRun, planned: PlannedDump) -> ClaimedDump:
    """Hash the file and claim it in the ledger; a dump whose sha256 is loaded comes back skipped."""
    dump = planned.dump
    started = time.perf_counter()
    sha, size = sha256_file(dump.path)
    detected = run.fmt if run.fmt != "auto" else detect_plain(dump.path)
    state = run.retry.call(
        ledger.claim_dump,
        run.engine,
        source=planned.source,
        location=dump.location,
        sha256=sha,
        size=size,
        fmt=detected,
        run_id=run.run_id,
        etag=dump.etag,
        last_modified=dump.last_modified,
        what="claiming the dump in the ledger",
        logger=run.logger,
    )
    if state.status == ledger.DONE:
        run.logger.info("%s: already ingested (same sha256), skipped", dump.location)
        result = DumpResult(dump.location, state.source, detected, "skipped", dump_id=state.id)
        return ClaimedDump(planned, state, result, None, started)
    # A dump left "unknown_format" is read again, but only the members whose format could
    # not be told, numbered after everything already loaded; their old rejects go at the end.
    reread = (
        ledger.unknown_format_members(run.engine, state.id) if state.status == ledger.UNKNOWN_FORMAT else None
    )
    status = "resumed" if state.records_done and reread is None else "loaded"
    result = DumpResult(dump.location, planned.source, detected, status, dump_id=state.id)
    return ClaimedDump(planned, state, result, reread, started)


def read_batches(run: IngestRun, claimed: ClaimedDump) -> Iterator[tuple[BatchRef, list[RawRecord | Reject]]]:
    """The dump's records not loaded yet, streamed in batches of ``[ingest] batch_size``.

    A batch's number counts from 1 in the dump, so a resumed dump goes on counting
    where the loaded batches stopped.
    """
    dump, state = claimed.planned.dump, claimed.state
    if dump.refusal:
        refused = Reject(f"{dump.location}#0", 0, RejectReason.UNSUPPORTED, dump.refusal)
        records: Iterable[RawRecord | Reject] = resume_after([refused], state.records_done)
    else:
        read = read_dump(
            dump.path,
            run.fmt,
            dump.location,
            max_record_bytes=run.settings.ingest.max_record_bytes,
            members=claimed.reread,
            first_ordinal=state.records_done if claimed.reread is not None else 0,
        )
        records = resume_after(watch_encodings(read, claimed.encodings), state.records_done)
        records = watch_unknown_format(records, lambda: setattr(claimed, "unknown_format_seen", True))
    size = run.settings.ingest.batch_size
    for chunk in batched(records, size):
        yield BatchRef(dump.location, chunk[0].ordinal // size + 1), chunk


def load_batches(
    run: IngestRun,
    claimed: ClaimedDump,
    batches: Iterable[tuple[BatchRef, list[RawRecord | Reject]]],
    *,
    prepare: SubmitPrepareFn | None = None,
    load: LoadFn = load_prepared,
    lookahead: int = 1,
    progress: ProgressFn | None = None,
) -> None:
    """Prepare and load the batches in order, up to ``lookahead`` in preparation meanwhile.

    ``prepare`` starts preparing a batch (etl.batches.prepare_batch, in a worker)
    and returns a future; ``load`` loads one prepared batch (etl.pipeline.load_prepared).
    Both are called inside :func:`etl.pipeline.handling` of the batch, so they can
    name it. Batches are loaded strictly in order, so "first seen" means first in
    the dump. A failure marks the dump failed in the ledger and is raised.
    """
    prepare = prepare or inline_prepare
    cfg, result, source = run.settings.dedup, claimed.result, claimed.planned.source
    pending: deque[tuple[BatchRef, object]] = deque()
    heap = contextlib.ExitStack()
    settle = heap.enter_context(frozen_between_batches())

    def load_next() -> None:
        ref, future = pending.popleft()
        batch: PreparedBatch = future.result()
        with handling(ref):
            counts: BatchCounts = load(
                run.engine, batch, dump_id=claimed.state.id, run_id=run.run_id, source=source, cfg=cfg
            )
        result.counts += counts
        result.prepare_seconds += batch.seconds
        if progress:
            progress(result.location, result.counts)
        run.watcher.batch_loaded(result.location, result.counts)

    try:
        for ref, chunk in batches:
            with handling(ref):
                pending.append((ref, prepare(chunk, source, cfg)))
            if len(pending) > max(0, lookahead):
                load_next()
                settle()  # after load_next: the loaded batch is garbage by now
        while pending:
            load_next()
            settle()
    except Exception as exc:
        _mark_dump_failed(run, claimed, exc)
        raise
    finally:
        heap.close()


def _mark_dump_failed(run: IngestRun, claimed: ClaimedDump, exc: Exception) -> None:
    """Batches already loaded stay loaded; a re-run resumes after the last one.

    If even this update fails (the database is away), the dump stays "loading"
    until the next run marks it abandoned: resumable either way. A failed re-read
    of unknown-format members stays a re-read (its old rejects are still there),
    but it starts those members over after the batches it loaded: records loaded
    before the failure then arrive again and are kept as exact duplicates, not lost.
    """
    status = ledger.UNKNOWN_FORMAT if claimed.reread is not None else ledger.FAILED
    with contextlib.suppress(Exception):
        if isinstance(exc, WarehouseUnavailable) or is_transient(exc):
            ledger.finish_dump(run.engine, claimed.state.id, status)  # one try: the window was just spent
        else:
            run.retry.call(
                ledger.finish_dump, run.engine, claimed.state.id, status, what="marking the dump failed"
            )


def finish_dump(run: IngestRun, claimed: ClaimedDump) -> DumpResult:
    """Mark a fully loaded dump done (or still ``unknown_format``) in the ledger: its commit marker."""
    engine, retry, state = run.engine, run.retry, claimed.state
    if claimed.reread is not None:
        retry.call(
            ledger.replace_unknown_format_rejects,
            engine,
            state.id,
            state.records_done,
            run.fmt if run.fmt != "auto" else None,
            what="replacing the rejects of re-read members",
            logger=run.logger,
        )
    retry.call(
        ledger.finish_dump,
        engine,
        state.id,
        ledger.UNKNOWN_FORMAT if claimed.unknown_format_seen else ledger.DONE,
        encoding_label(claimed.encodings),
        what="marking the dump done",
        logger=run.logger,
    )
    checkpoint("dump-done")
    claimed.result.seconds = time.perf_counter() - claimed.started
    return claimed.result


ENCODING_WIDTH = 40  # dumps.encoding's width; names that do not fit whole are left out


def encoding_label(counts: dict[str, int]) -> str | None:
    """The encodings readers named for a dump's records, most used first: ``utf-8,cp1252``.

    The ledger keeps them in ``dumps.encoding``: someone chasing mojibake sees
    which decoder read the file. Formats that declare their encoding name none.
    """
    label = ""
    for name, _ in sorted(counts.items(), key=lambda item: -item[1]):
        if len(label) + len(name) + 1 > ENCODING_WIDTH:
            break
        label = f"{label},{name}" if label else name
    return label or None


def fail_dump(run: IngestRun, planned: PlannedDump, exc: Exception) -> DumpResult:
    """Record a dump that failed; after a transient failure the remaining dumps are not attempted."""
    why = failure_text(exc)
    run.logger.error("%s failed: %s", planned.dump.location, why)
    run.summary.failures.append((planned.dump.location, why))
    if isinstance(exc, WarehouseUnavailable) or is_transient(exc):
        run.unavailable = "the warehouse is unavailable (see the first failure)"
    return DumpResult(planned.dump.location, planned.source, run.fmt, "failed")


def skip_dump(run: IngestRun, planned: PlannedDump) -> DumpResult:
    """A dump left for a later run: the warehouse stayed away for a whole retry window."""
    run.summary.failures.append((planned.dump.location, f"not attempted: {run.unavailable}"))
    return DumpResult(planned.dump.location, planned.source, run.fmt, "failed")


def settle_dump(run: IngestRun, planned: PlannedDump, ok: bool) -> str | None:
    """Move a landing-folder file to processed/ or failed/; a failed move is logged, not fatal.

    Returns where the file went, or None when it stays (not a landing file, or ``after = "leave"``).
    """
    dump = planned.dump
    if dump.settle is None:
        return None
    try:
        moved = dump.settle(ok)
    except Exception as exc:
        run.logger.error("%s: could not be moved after the load: %s", dump.location, failure_text(exc))
        return None
    if moved is None:
        return None
    run.logger.info("%s: moved to %s", dump.location, printable(str(moved)))
    return printable(str(moved))


def record_result(run: IngestRun, result: DumpResult) -> None:
    """Add a dump's outcome to the run's summary and progress."""
    run.summary.dumps.append(result)
    run.watcher.dump_finished(result)


def finish_run(run: IngestRun, exc: BaseException | None = None) -> RunSummary:
    """Write the run's final state; if even that fails, the next run marks it abandoned."""
    summary = run.summary
    if exc is None:
        summary.elapsed = time.perf_counter() - run.started
        status = ledger.COMPLETED if summary.ok else ledger.RUN_FAILED
        error = "; ".join(f"{loc}: {why}" for loc, why in summary.failures) or None
    else:
        status, error = ledger.RUN_FAILED, failure_text(exc)
    if not run.recorded:
        return summary
    try:
        run.retry.call(
            ledger.finish_run,
            run.engine,
            run.run_id,
            status,
            dumps_read=summary.dumps_read,
            dumps_skipped=summary.dumps_skipped,
            error=error,
            what="recording the end of the run",
            logger=run.logger,
        )
    except Exception as err:
        run.logger.error("run %s: its final state could not be recorded: %s", run.run_id, failure_text(err))
    return summary


def record_partition(run: IngestRun, exc: BaseException | None = None) -> str | None:
    """Mark the run's day done, empty or failed (see etl.backfill.record_outcome); None without a day.

    ``exc``: the run itself failed. The attempt still counts, even when the run
    failed before its row was recorded.
    """
    part = run.partition
    if part is None:
        return None
    if exc is not None:
        if not run.partition_counted:
            with contextlib.suppress(Exception):
                mark_partition_running(run)
        run.retry.call(
            partitions.mark_finished,
            run.engine,
            part.source,
            part.day,
            partitions.FAILED,
            note=printable(redact_text(str(exc))),
            what="marking the day failed",
            logger=run.logger,
        )
        return partitions.FAILED
    status = run.retry.call(
        record_outcome,
        run.engine,
        part.source,
        part.day,
        run.summary,
        what="recording the day",
        logger=run.logger,
    )
    run.logger.info("partition %s %s: %s", part.source, part.day, status)
    return status
