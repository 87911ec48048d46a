"""One ingest run over many dumps, with the stage functions supplied by the caller.

The Prefect flow passes its batch tasks; tests and benchmarks pass the plain
functions. Either way the run is recorded in ``runs`` and one bad dump never
stops the others.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy.engine import Engine

from etl.config import Settings
from etl.parallel import LocalPreparer, resolve_workers
from etl.pipeline import (
    DumpFile,
    DumpResult,
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
from etl.warehouse.db import describe
from etl.warehouse.ledger import finish_run, start_run
from etl.warehouse.schema import prepare_warehouse

log = logging.getLogger("newsetl")


def default_source(dump: DumpFile) -> str:
    """Without ``--source`` a dump is named after its folder: ``inbox/tass/x.txt`` -> ``tass``."""
    return dump.path.resolve().parent.name or "local"


def run_ingest(
    engine: Engine,
    locations: Sequence[str],
    *,
    settings: Settings,
    source: str | None = None,
    fmt: str = "auto",
    run_id: str | None = None,
    prepare: SubmitPrepareFn | None = None,
    load: LoadFn = load_prepared,
    progress: ProgressFn | None = None,
    logger: logging.Logger | logging.LoggerAdapter = log,
    day: date | None = None,
    config_path: str | None = None,
    resolve_secret: Callable[[str], str] | None = None,
) -> RunSummary:
    """Ingest every dump found at ``locations``; returns the summary (also stored in ``runs``).

    ``prepare`` starts preparing a batch and returns a future (default: worker
    processes, see etl.parallel); ``load`` loads one prepared batch.
    """
    started = time.perf_counter()
    workers = resolve_workers(settings.ingest.workers)
    prepare = prepare or LocalPreparer(workers)
    prepare_warehouse(engine, settings.dedup)
    run_id = run_id or str(uuid.uuid4())
    summary = RunSummary(run_id=run_id, warehouse=describe(engine))
    parameters = {
        "locations": [redact_url(loc) for loc in locations],
        "source": source,
        "format": fmt,
        "date": day.isoformat() if day else None,
    }
    start_run(engine, run_id, "ingest", parameters)
    try:
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
        for dump in dumps:
            src = planned.source_names.get(dump.location) or source or default_source(dump)
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
                )
            except Exception as exc:  # one bad dump must not stop the others
                logger.error("%s failed: %s: %s", dump.location, type(exc).__name__, exc)
                summary.failures.append((dump.location, f"{type(exc).__name__}: {exc}"))
                result = DumpResult(dump.location, src, fmt, "failed")
            if result.status == "skipped":
                logger.info("%s: already ingested (same sha256), skipped", dump.location)
            if dump.settle is not None:
                moved = dump.settle(result.status != "failed")
                logger.info("%s: moved to %s", dump.location, moved)
            summary.dumps.append(result)
            watcher.dump_finished(result)
    except BaseException as exc:
        finish_run(
            engine,
            run_id,
            "failed",
            dumps_read=summary.dumps_read,
            dumps_skipped=summary.dumps_skipped,
            error=redact_text(f"{type(exc).__name__}: {exc}"),
        )
        raise
    summary.elapsed = time.perf_counter() - started
    finish_run(
        engine,
        run_id,
        "completed" if summary.ok else "failed",
        dumps_read=summary.dumps_read,
        dumps_skipped=summary.dumps_skipped,
        error="; ".join(f"{loc}: {why}" for loc, why in summary.failures) or None,
    )
    return summary


def _observed(progress: ProgressFn | None, watcher) -> ProgressFn:
    """The caller's per-batch callback, plus the progress observer's."""

    def both(location: str, counts) -> None:
        if progress:
            progress(location, counts)
        watcher.batch_loaded(location, counts)

    return both
