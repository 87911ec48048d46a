"""One ingest run without Prefect: the steps of etl.steps, composed as plain calls.

flows.ingest composes the same steps with Prefect tasks; tests and benchmarks
call this. Either way the run is recorded in ``runs`` (and a source's day in
``partitions``) and one bad dump never stops the others: any exception in a dump
marks that dump failed and the run goes on, and the run row always ends
``completed`` or ``failed`` (or, when the process is killed, is marked
``abandoned`` by the next run). Warehouse statements are retried through
transient database errors for ``[warehouse] retry_seconds``; when the database
stays away longer, the remaining dumps are left for a later run instead of each
failing in turn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy.engine import Engine

from etl.config import Settings
from etl.counts import BatchCounts
from etl.dumps import DumpResult
from etl.parallel import LocalPreparer, resolve_workers
from etl.pipeline import LoadFn, ProgressFn, SubmitPrepareFn, load_prepared
from etl.steps import (
    ClaimedDump,
    IngestRun,
    PlannedDump,
    claim_dump,
    default_source,
    fail_dump,
    failure_text,
    finish_dump,
    finish_run,
    load_batches,
    mark_partition_running,
    partition_of,
    plan_dumps,
    read_batches,
    record_partition,
    record_result,
    settle_dump,
    skip_dump,
    start_run,
)
from etl.summary import RunSummary
from etl.warehouse import ledger

__all__ = ["Heartbeat", "default_source", "ingest_one", "run_ingest"]

log = logging.getLogger("newsetl")


class Heartbeat:
    """Touches the run's ``heartbeat_at`` every few seconds from a daemon thread.

    Dies with the process, which is the point: a run whose heartbeat stopped is
    recognisably dead (see etl.warehouse.ledger.abandon_stale_runs). A missed beat
    (database briefly away) is simply skipped.
    """

    def __init__(self, engine: Engine, run_id: str, every: float = ledger.HEARTBEAT_SECONDS) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(engine, run_id, every), name=f"heartbeat-{run_id}", daemon=True
        )

    def _beat(self, engine: Engine, run_id: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                ledger.heartbeat(engine, run_id)
            except Exception as exc:  # never let the beat kill the run
                log.debug("heartbeat of run %s skipped: %s", run_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()


def run_ingest(
    engine: Engine,
    locations: Sequence[str],
    *,
    settings: Settings,
    source: str | None = None,
    fmt: str = "auto",
    run_id: str | None = None,
    prepare: SubmitPrepareFn | None = None,
    load: LoadFn | None = None,
    progress: ProgressFn | None = None,
    logger: logging.Logger | logging.LoggerAdapter = log,
    day: date | None = None,
    config_path: str | None = None,
    resolve_secret: Callable[[str], str] | None = None,
) -> RunSummary:
    """Ingest every dump found at ``locations``; returns the summary (also stored in ``runs``).

    The steps of etl.steps in order, as flows.ingest runs them as Prefect tasks.
    Without locations, ``source`` names a configured source and ``day`` its day
    (default: today in its zone), recorded in the partition ledger. ``prepare``
    starts preparing a batch and returns a future (default: worker processes, see
    etl.parallel); ``load`` loads one prepared batch (default: ``load_prepared``
    retried through transient errors; a caller's ``load`` brings its own retries).
    """
    workers = resolve_workers(settings.ingest.workers)
    run = IngestRun(
        engine,
        settings,
        locations=locations,
        source=source,
        fmt=fmt,
        partition=partition_of(locations, source, day, config_path),
        run_id=run_id,
        logger=logger,
    )
    prepare = prepare or LocalPreparer(workers)
    if load is None:

        def load(*args, **kwargs) -> BatchCounts:
            return run.retry.call(load_prepared, *args, what="loading a batch", logger=logger, **kwargs)

    try:
        start_run(run)
        with Heartbeat(engine, run.run_id):
            mark_partition_running(run)
            for planned in plan_dumps(run, config_path=config_path, resolve_secret=resolve_secret):
                result = ingest_one(
                    run, planned, prepare=prepare, load=load, progress=progress, lookahead=workers
                )
                record_result(run, result)
    except BaseException as exc:
        finish_run(run, exc)
        try:
            record_partition(run, exc)
        except Exception as err:  # the run's own failure is the one to raise
            logger.error("the day's failure could not be recorded: %s", failure_text(err))
        raise
    finish_run(run)
    record_partition(run)
    return run.summary


def ingest_one(
    run: IngestRun,
    planned: PlannedDump,
    *,
    prepare: SubmitPrepareFn | None = None,
    load: LoadFn = load_prepared,
    progress: ProgressFn | None = None,
    lookahead: int = 1,
    claim: Callable[[IngestRun, PlannedDump], ClaimedDump] = claim_dump,
    finish: Callable[[IngestRun, ClaimedDump], object] = finish_dump,
    settle: Callable[[IngestRun, PlannedDump, bool], object] = settle_dump,
) -> DumpResult:
    """One dump: claim, read and load its batches, finish, then settle its file; never raises.

    The Prefect flow passes its task versions of ``claim``, ``finish`` and ``settle``;
    the order of the steps is this one either way.
    """
    if run.unavailable:
        result = skip_dump(run, planned)
    else:
        try:
            claimed = claim(run, planned)
            if not claimed.skipped:
                batches = read_batches(run, claimed)
                load_batches(
                    run, claimed, batches, prepare=prepare, load=load, lookahead=lookahead, progress=progress
                )
                finish(run, claimed)
            result = claimed.result
        except Exception as exc:  # one bad dump must not stop the others
            result = fail_dump(run, planned, exc)
    settle(run, planned, result.status != "failed")
    return result
