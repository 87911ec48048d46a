"""The ``ingest`` Prefect flow: the data flow of etl.pipeline, with batches as tasks.

Tasks wrap one ``etl`` call on one batch (thousands of records): Prefect's
per-task cost is milliseconds, so per-document tasks would dominate the run.
Batches are passed in-process (``quote`` skips Prefect's walk over their
contents, ``NO_CACHE`` skips hashing them); nothing is persisted as a result.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from etl.config import DedupConfig, load_settings, resolve_database_url
from etl.errors import is_transient
from etl.pipeline import (
    DumpFile,
    DumpResult,
    PreparedBatch,
    discover,
    ingest_dump,
    load_prepared,
    prepare_batch,
)
from etl.records import RawRecord, Reject
from etl.summary import RunSummary
from etl.warehouse.db import describe, engine_for
from etl.warehouse.ledger import finish_run, start_run
from etl.warehouse.load import BatchCounts
from etl.warehouse.schema import prepare_warehouse


def _retry_if_transient(_task, _task_run, state) -> bool:
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


@task(name="prepare-batch", cache_policy=NO_CACHE)
def prepare_batch_task(
    records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig
) -> PreparedBatch:
    return prepare_batch(records, source, cfg)


@task(
    name="load-batch",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_retry_if_transient,
)
def load_batch_task(
    db_url: str, batch: PreparedBatch, dump_id: int, run_id: str, source: str, cfg: DedupConfig
) -> BatchCounts:
    return load_prepared(
        engine_for(db_url), batch, dump_id=dump_id, run_id=run_id, source=source, cfg=cfg
    )


def default_source(dump: DumpFile) -> str:
    """Without ``--source``, a dump is named after its folder (``landing/tass/x.txt`` -> ``tass``)."""
    return dump.path.resolve().parent.name or "local"


@flow(name="ingest", log_prints=False)
def ingest(
    locations: list[str],
    source: str | None = None,
    format: str = "auto",
    db_url: str | None = None,
    config_path: str | None = None,
) -> RunSummary:
    """Ingest dump files, folders or globs into the warehouse, deduplicated."""
    logger = get_run_logger()
    started = time.perf_counter()
    settings = load_settings(config_path)
    url = resolve_database_url(db_url, settings)
    engine = engine_for(url)
    prepare_warehouse(engine, settings.dedup)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    summary = RunSummary(run_id=run_id, warehouse=describe(engine))
    start_run(
        engine,
        run_id,
        "ingest",
        {"locations": list(locations), "source": source, "format": format},
    )
    dumps = discover(locations)
    logger.info("ingesting %d dump file(s) into %s", len(dumps), summary.warehouse)

    def prepare(records, src, cfg):
        return prepare_batch_task(quote(records), src, cfg)

    def load(_engine, batch, *, dump_id, run_id, source, cfg):
        return load_batch_task(url, quote(batch), dump_id, run_id, source, cfg)

    def progress(location: str, counts: BatchCounts) -> None:
        logger.info(
            "%s: %d records (%d kept, %d duplicates, %d rejected)",
            Path(location).name,
            counts.records,
            counts.articles,
            counts.duplicates,
            counts.rejects,
        )

    for dump in dumps:
        src = source or default_source(dump)
        try:
            result = ingest_dump(
                engine,
                dump,
                source=src,
                fmt=format,
                run_id=run_id,
                settings=settings,
                prepare=prepare,
                load=load,
                progress=progress,
            )
        except Exception as exc:  # one bad dump must not stop the others
            logger.error("%s failed: %s", dump.location, exc)
            summary.failures.append((dump.location, f"{type(exc).__name__}: {exc}"))
            result = DumpResult(dump.location, src, format, "failed")
        if result.status == "skipped":
            logger.info("%s: already ingested (same sha256), skipped", dump.location)
        summary.dumps.append(result)

    summary.elapsed = time.perf_counter() - started
    finish_run(
        engine,
        run_id,
        "completed" if summary.ok else "failed",
        dumps_read=summary.dumps_read,
        dumps_skipped=summary.dumps_skipped,
        error="; ".join(f"{loc}: {why}" for loc, why in summary.failures) or None,
    )
    create_markdown_artifact(
        markdown=summary.markdown(), key="ingest-summary", description="newsetl ingest run"
    )
    return summary
