"""One ingest run over many dumps, with the stage functions supplied by the caller.

The Prefect flow passes its batch tasks; tests and benchmarks pass the plain
functions. Either way the run is recorded in ``runs`` and one bad dump never
stops the others: any exception in a dump marks that dump failed and the run
goes on, and the run row always ends ``completed`` or ``failed`` (or, when the
process is killed, is marked ``abandoned`` by the next run). Warehouse
statements are retried through transient database errors for
``[warehouse] retry_seconds``; when the database stays away longer, the
remaining dumps are left for a later run instead of each failing in turn.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy.engine import Engine

from etl.config import Settings
from etl.dumps import DumpFile, DumpResult
from etl.errors import WarehouseUnavailable, describe_db_error, is_transient
from etl.names import printable
from etl.parallel import LocalPreparer, resolve_workers
from etl.pipeline import (
    LoadFn,
    ProgressFn,
    SubmitPrepareFn,
    ingest_dump,
    load_prepared,
)
from etl.progress import observer
from etl.redact import redact_text, redact_url
from etl.sources import plan
from etl.summary import RunSummary
from etl.warehouse import ledger
from etl.warehouse.db import describe
from etl.warehouse.retry import RetryPolicy
from etl.warehouse.schema import prepare_warehouse

log = logging.getLogger("newsetl")


def default_source(dump: DumpFile) -> str:
    """Without ``--source`` a dump is named after its folder: ``inbox/tass/x.txt`` -> ``tass``."""
    return printable(dump.path.resolve().parent.name) or "local"


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


def _failure(exc: BaseException) -> str:
    """One printable line for the summary, the log and ``runs.error``, URL credentials redacted."""
    text = describe_db_error(exc) if is_transient(exc) else f"{type(exc).__name__}: {exc}"
    return printable(redact_text(text))


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
    on_start: Callable[[str], None] | None = None,
) -> RunSummary:
    """Ingest every dump found at ``locations``; returns the summary (also stored in ``runs``).

    ``prepare`` starts preparing a batch and returns a future (default: worker
    processes, see etl.parallel); ``load`` loads one prepared batch (default:
    ``load_prepared`` retried through transient errors; a caller's ``load`` brings
    its own retries, as the Prefect task does). ``on_start`` is called with the run id
    once its ``runs`` row exists: rows that name the run (a partition's ``run_id``) can
    only be written from then on, the foreign keys to ``runs`` say so.
    """
    started = time.perf_counter()
    workers = resolve_workers(settings.ingest.workers)
    prepare = prepare or LocalPreparer(workers)
    retry = RetryPolicy(window=settings.warehouse.retry_seconds)
    if load is None:

        def load(*args, **kwargs):
            return retry.call(load_prepared, *args, what="loading a batch", logger=logger, **kwargs)

    retry.call(prepare_warehouse, engine, settings.dedup, what="preparing the warehouse", logger=logger)
    abandoned = retry.call(ledger.abandon_stale_runs, engine, what="checking for dead runs", logger=logger)
    for old in abandoned:
        logger.warning("run %s was left running by a process that died: marked abandoned", old)
    run_id = run_id or str(uuid.uuid4())
    summary = RunSummary(run_id=run_id, warehouse=describe(engine), abandoned=abandoned)
    parameters = {
        "locations": [printable(redact_url(loc)) for loc in locations],
        "source": source,
        "format": fmt,
        "date": day.isoformat() if day else None,
    }
    retry.call(
        ledger.start_run, engine, run_id, "ingest", parameters, what="recording the run", logger=logger
    )
    try:
        with Heartbeat(engine, run_id):
            if on_start is not None:
                on_start(run_id)
            _run_dumps(
                engine,
                locations,
                summary,
                settings=settings,
                source=source,
                fmt=fmt,
                run_id=run_id,
                prepare=prepare,
                load=load,
                progress=progress,
                logger=logger,
                day=day,
                config_path=config_path,
                resolve_secret=resolve_secret,
                retry=retry,
                workers=workers,
            )
    except BaseException as exc:
        _finish(engine, retry, logger, run_id, ledger.RUN_FAILED, summary, _failure(exc))
        raise
    summary.elapsed = time.perf_counter() - started
    _finish(
        engine,
        retry,
        logger,
        run_id,
        ledger.COMPLETED if summary.ok else ledger.RUN_FAILED,
        summary,
        "; ".join(f"{loc}: {why}" for loc, why in summary.failures) or None,
    )
    return summary


def _observed(progress: ProgressFn | None, watcher) -> ProgressFn:
    """The caller's per-batch callback, plus the progress observer's."""

    def both(location: str, counts) -> None:
        if progress:
            progress(location, counts)
        watcher.batch_loaded(location, counts)

    return both


def _run_dumps(
    engine: Engine,
    locations: Sequence[str],
    summary: RunSummary,
    *,
    settings: Settings,
    source: str | None,
    fmt: str,
    run_id: str,
    prepare: SubmitPrepareFn,
    load: LoadFn,
    progress: ProgressFn | None,
    logger: logging.Logger | logging.LoggerAdapter,
    day: date | None,
    config_path: str | None,
    resolve_secret: Callable[[str], str] | None,
    retry: RetryPolicy,
    workers: int,
) -> None:
    planned = plan(
        engine,
        list(locations),
        source=source,
        day=day,
        config_path=config_path,
        fmt=fmt,
        resolve_secret=resolve_secret,
    )
    summary.notes.extend(planned.notes)
    for location, note in planned.notes:
        logger.info("%s: %s", location, note)
    dumps = planned.dumps
    logger.info("ingesting %d dump file(s) into %s", len(dumps), summary.warehouse)
    watcher = observer()
    watcher.dumps_planned(dumps)
    unavailable: str | None = None
    for dump in dumps:
        src = planned.source_names.get(dump.location) or source or default_source(dump)
        if unavailable:
            # The warehouse stayed away for a whole retry window: do not fail each dump in turn.
            summary.failures.append((dump.location, f"not attempted: {unavailable}"))
            summary.dumps.append(DumpResult(dump.location, src, fmt, "failed"))
            _settle(dump, False, logger)
            watcher.dump_finished(summary.dumps[-1])
            continue
        try:
            result = ingest_dump(
                engine,
                dump,
                source=src,
                fmt=fmt,
                run_id=run_id,
                settings=settings,
                prepare=prepare,
                load=load,
                progress=_observed(progress, watcher),
                lookahead=workers,
                retry=retry,
            )
        except Exception as exc:  # one bad dump must not stop the others
            why = _failure(exc)
            logger.error("%s failed: %s", dump.location, why)
            summary.failures.append((dump.location, why))
            result = DumpResult(dump.location, src, fmt, "failed")
            if isinstance(exc, WarehouseUnavailable) or is_transient(exc):
                unavailable = "the warehouse is unavailable (see the first failure)"
        if result.status == "skipped":
            logger.info("%s: already ingested (same sha256), skipped", dump.location)
        _settle(dump, result.status != "failed", logger)
        summary.dumps.append(result)
        watcher.dump_finished(result)


def _settle(dump: DumpFile, ok: bool, logger) -> None:
    """Move a landing-folder file to processed/ or failed/; a failed move is logged, not fatal."""
    if dump.settle is None:
        return
    try:
        moved = dump.settle(ok)
        if moved is not None:  # None: left in place (after = "leave")
            logger.info("%s: moved to %s", dump.location, printable(str(moved)))
    except Exception as exc:
        logger.error("%s: could not be moved after the load: %s", dump.location, _failure(exc))


def _finish(engine, retry: RetryPolicy, logger, run_id: str, status: str, summary, error) -> None:
    """Write the run's final state; if even that fails, the next run marks it abandoned."""
    try:
        retry.call(
            ledger.finish_run,
            engine,
            run_id,
            status,
            dumps_read=summary.dumps_read,
            dumps_skipped=summary.dumps_skipped,
            error=error,
            what="recording the end of the run",
            logger=logger,
        )
    except Exception as exc:
        logger.error("run %s: its final state could not be recorded: %s", run_id, _failure(exc))
