"""The ``ingest`` Prefect flow: the steps of etl.steps, as etl.runner composes them, as tasks.

Per dump: ``plan`` (fetches URLs), ``claim``, ``finish`` and ``settle`` (a
landing-folder file), then ``record-partition`` for a source's day; per batch
``prepare-batch`` and ``load-batch``. Each task run is named for what it handles
(``claim crawl.jsonl``, ``load-batch crawl.jsonl 3``, ``record-partition tass_daily
2024-03-04``). Tasks wrap one ``etl`` call on one dump or one batch (thousands of
records): Prefect's per-task cost is milliseconds, so per-document tasks would
dominate the run.
Batches are passed in-process (``quote`` skips Prefect's walk over their
contents, ``NO_CACHE`` skips hashing them); nothing is persisted as a result.
Loads retry only on transient errors (a database restart, a deadlock, a lock
timeout: etl.errors.is_transient), with exponential delays and jitter that span
``[warehouse] retry_seconds``; a retried load is safe: the batch transaction
either committed with its ledger update or left no trace.

The database URL is never a flow parameter of a deployment (parameters are shown
in the Prefect UI and API): it comes from ``NEWSETL_DATABASE_URL``, the config
file, or the Prefect Secret block named by ``[warehouse] url_secret_block``.
``db_url`` exists for in-process calls (tests, benchmarks) only.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from etl.batches import PreparedBatch, prepare_batch
from etl.config import DedupConfig, Settings, load_settings, resolve_dask_address, resolve_database_url
from etl.counts import BatchCounts
from etl.dumps import DumpResult
from etl.errors import is_transient
from etl.names import dump_name
from etl.parallel import LocalPreparer, resolve_workers
from etl.pipeline import current_batch, load_prepared
from etl.records import RawRecord, Reject
from etl.redact import has_userinfo
from etl.runner import Heartbeat, ingest_one
from etl.sources.credentials import hold
from etl.steps import (
    ClaimedDump,
    IngestRun,
    Partition,
    PlannedDump,
    claim_dump,
    failure_text,
    finish_dump,
    finish_run,
    mark_partition_running,
    plan_dumps,
    record_partition,
    record_result,
    settle_dump,
    start_run,
)
from etl.summary import RunSummary
from etl.warehouse.db import engine_for
from etl.warehouse.retry import RetryPolicy
from flows.partition_artifacts import publish_day
from flows.report import publish_report


def _read_secret(block_name: str) -> str:
    """The value of a Prefect Secret block (``auth_secret_block`` of an HTTP source, or the URL)."""
    from prefect.blocks.system import Secret

    return Secret.load(block_name).get()


def _keep_credentials_out(locations: list[str]) -> list[str]:
    """Locations with URL credentials redacted; the credentials are held for the fetch.

    Callers should pass URLs redacted already (the CLI does, see
    etl.sources.credentials). A direct caller that passed ``user:password@`` has
    had it stored with the flow run's parameters: overwrite them with the
    redacted form straight away.
    """
    if not any(has_userinfo(loc) for loc in locations):
        return locations
    redacted = [hold(loc) for loc in locations]
    run_id = flow_run.get_id()
    if run_id:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, parameters={**flow_run.get_parameters(), "locations": redacted})
    return redacted


def database_url(db_url: str | None, settings: Settings) -> str:
    """The warehouse URL: ``db_url``, else the environment, a Secret block, the config file."""
    return resolve_database_url(db_url, settings, resolve_secret=_read_secret)


def _retry_if_transient(_task, _task_run, state) -> bool:
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def _batch_run_name(kind: str):
    """Task run names that say which batch of which dump: ``load-batch crawl.jsonl 3``."""

    def name(parameters: dict) -> str:
        return f"{kind} {parameters['label']}" if parameters.get("label") else kind

    return name


def _batch_label() -> str:
    """The dump and batch number ``load_batches`` is handing over now (see etl.pipeline.current_batch)."""
    ref = current_batch()
    return ref.label if ref else ""


@task(name="prepare-batch", cache_policy=NO_CACHE, task_run_name=_batch_run_name("prepare-batch"))
def prepare_batch_task(
    records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig, workers: int, label: str = ""
) -> PreparedBatch:
    return _preparers.setdefault(workers, LocalPreparer(workers))(records, source, cfg).result()


# One preparer (and so one worker pool) per worker count, for all runs of this process.
_preparers: dict[int, LocalPreparer] = {}


class Sealed:
    """A batch's records, opaque to Prefect's walk over task arguments.

    ``quote`` does that job in-process, but it is a named tuple, and Dask rebuilds
    tuples in task arguments as plain ones: the worker would get ``(records,)``.
    """

    __slots__ = ("records",)

    def __init__(self, records: Sequence[RawRecord | Reject]) -> None:
        self.records = list(records)

    def __getstate__(self) -> list:
        return self.records

    def __setstate__(self, records: list) -> None:
        self.records = records


@task(name="prepare-batch", cache_policy=NO_CACHE, task_run_name=_batch_run_name("prepare-batch"))
def prepare_on_cluster_task(batch: Sealed, source: str, cfg: DedupConfig, label: str = "") -> PreparedBatch:
    """``prepare-batch`` as run by a Dask worker: the worker is the process, no local pool."""
    return prepare_batch(batch.records, source, cfg)


def dask_preparer(stack: ExitStack, address: str):
    """A ``SubmitPrepareFn`` that runs ``prepare-batch`` on the Dask cluster at ``address``.

    The runner is opened here, for this flow run, rather than given to the flow with
    ``with_options``, so that the address from a deployment's environment or config
    file is honoured as well as the CLI's. Submitted tasks report to this flow run;
    arguments and results travel pickled (PreparedBatch packs itself into flat arrays).
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_dask import DaskTaskRunner

    runner = stack.enter_context(DaskTaskRunner(address=address))
    # A task run reports to the Prefect API named by the settings sent along with it.
    # Without PREFECT_API_URL this process talks to its temporary local server, which a
    # worker would not find (it would start one of its own): name that server's URL.
    api_url = PREFECT_API_URL.value() or _local_server_api_url()

    def prepare(records, src, cfg):
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            return runner.submit(
                prepare_on_cluster_task,
                {"batch": Sealed(records), "source": src, "cfg": cfg, "label": _batch_label()},
            )

    return prepare


def _local_server_api_url() -> str:
    """The API URL of the temporary local server this process uses (started if need be)."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance Prefect's own clients use
    server.start()  # a no-op when it runs already
    return server.api_url


@task(
    name="load-batch",
    cache_policy=NO_CACHE,
    retry_condition_fn=_retry_if_transient,
    task_run_name=_batch_run_name("load-batch"),
)
def load_batch_task(
    db_url: str,
    batch: PreparedBatch,
    dump_id: int,
    run_id: str,
    source: str,
    cfg: DedupConfig,
    label: str = "",
) -> BatchCounts:
    return load_prepared(engine_for(db_url), batch, dump_id=dump_id, run_id=run_id, source=source, cfg=cfg)


def retrying_load_task(settings: Settings):
    """``load-batch`` with retries whose delays (doubling, jittered) span the retry window."""
    delays = RetryPolicy(window=settings.warehouse.retry_seconds).schedule()
    return load_batch_task.with_options(
        retries=len(delays), retry_delay_seconds=delays or 0, retry_jitter_factor=0.5 if delays else None
    )


# The per-dump steps of etl.steps as tasks, named for what they handle. They take the
# run (an etl.steps.IngestRun: engine, settings, retries, summary) in-process; nothing
# is persisted as a result, and NO_CACHE skips hashing their arguments.
_STEP = {"cache_policy": NO_CACHE, "persist_result": False}


def _step_run_name(kind: str, argument: str):
    """Task run names that say what a step handles: ``claim crawl.jsonl``, ``plan tass_daily 2024-03-04``."""

    def name(parameters: dict) -> str:
        return f"{kind} {parameters[argument].label}".rstrip()

    return name


@task(name="plan", task_run_name=_step_run_name("plan", "run"), **_STEP)
def plan_task(run: IngestRun, config_path: str | None) -> list[PlannedDump]:
    """The dumps of the run's locations or source day; URLs are fetched here."""
    return plan_dumps(run, config_path=config_path, resolve_secret=_read_secret)


@task(name="claim", task_run_name=_step_run_name("claim", "planned"), **_STEP)
def claim_task(run: IngestRun, planned: PlannedDump) -> ClaimedDump:
    return claim_dump(run, planned)


@task(name="finish", task_run_name=_step_run_name("finish", "claimed"), **_STEP)
def finish_task(run: IngestRun, claimed: ClaimedDump) -> DumpResult:
    return finish_dump(run, claimed)


@task(name="settle", task_run_name=_step_run_name("settle", "planned"), **_STEP)
def settle_task(run: IngestRun, planned: PlannedDump, ok: bool) -> str | None:
    return settle_dump(run, planned, ok)


@task(
    name="record-partition",
    task_run_name=_step_run_name("record-partition", "run"),
    **_STEP,
)
def record_partition_task(run: IngestRun, failure: BaseException | None = None) -> str | None:
    return record_partition(run, failure)


def ingest_dump(
    run: IngestRun, planned: PlannedDump, *, prepare, load, lookahead: int, progress
) -> DumpResult:
    """etl.runner.ingest_one with claim, finish and settle as tasks; never raises.

    A landing-folder file is settled by a task; other dumps have nothing to settle.
    """

    def settle(run: IngestRun, planned: PlannedDump, ok: bool) -> None:
        if planned.dump.settle is not None:
            settle_task(run, planned, ok)

    return ingest_one(
        run,
        planned,
        prepare=prepare,
        load=load,
        progress=progress,
        lookahead=lookahead,
        claim=claim_task,
        finish=finish_task,
        settle=settle,
    )


def logical_day(source: str, config_path: str | None, given: str | None) -> datetime.date:
    """The day a source run is for: the given date, else the scheduled start in the source's zone.

    A late or catch-up run of a scheduled deployment still ingests the day it was
    scheduled for; a manual run without a date takes today in that zone.
    """
    if given:
        return datetime.date.fromisoformat(given)
    from zoneinfo import ZoneInfo

    from etl.sources.config import get_source

    tz = ZoneInfo(get_source(source, config_path).timezone)
    scheduled = flow_run.get_scheduled_start_time()  # now, outside a flow run
    return scheduled.astimezone(tz).date()


def ingest_run_name() -> str:
    """``ingest tass_daily 2024-03-04`` (a source's day) or ``ingest crawl.jsonl +2 more``.

    The UI then says what a run handled; a scheduled run without a date is named
    after the day it ingests (see :func:`logical_day`).
    """
    params = flow_run.parameters or {}
    locations = list(params.get("locations") or [])
    source = params.get("source")
    if locations:
        first = dump_name(str(locations[0]))
        more = f" +{len(locations) - 1} more" if len(locations) > 1 else ""
        return f"ingest {first}{more}"
    if source:
        try:
            day = logical_day(source, params.get("config_path"), params.get("date")).isoformat()
        except Exception:  # a bad source or date fails the run itself, with its own message
            day = params.get("date") or ""
        return f"ingest {source} {day}".rstrip()
    return "ingest"


@flow(name="ingest", log_prints=False, flow_run_name=ingest_run_name)
def ingest(
    locations: list[str] | None = None,
    source: str | None = None,
    format: str = "auto",
    db_url: str | None = None,
    config_path: str | None = None,
    date: str | None = None,
    dask_address: str | None = None,
) -> RunSummary:
    """Ingest dump files, folders, globs or URLs, or one day of a configured source.

    With a Dask scheduler address (``dask_address``, else ``NEWSETL_DASK_ADDRESS``, else
    ``[ingest] dask_address``) batches are prepared on that cluster; loading stays here.
    """
    logger = get_run_logger()
    settings = load_settings(config_path)
    url = database_url(db_url, settings)
    locations = _keep_credentials_out(list(locations or []))
    by_source = not locations and source is not None
    day = logical_day(source, config_path, date) if by_source else None
    engine = engine_for(url)
    run = IngestRun(
        engine,
        settings,
        locations=locations,
        source=source,
        fmt=format,
        partition=Partition(source, day) if by_source and day else None,
        run_id=str(flow_run.get_id() or "") or None,
        logger=logger,
    )

    workers = resolve_workers(settings.ingest.workers)
    cluster = resolve_dask_address(dask_address, settings)
    stack = ExitStack()

    def prepare(records, src, cfg):
        # submit: the task runs in a thread of the task runner and waits on a worker
        # process, so the flow goes on to load the previous batch meanwhile.
        return prepare_batch_task.submit(quote(records), src, cfg, workers, _batch_label())

    if cluster:
        logger.info("preparing batches on the Dask cluster at %s", cluster)
        prepare = dask_preparer(stack, cluster)

    load_task = retrying_load_task(settings)

    def load(_engine, batch, *, dump_id, run_id, source, cfg):
        # db_url is a task argument, not a flow parameter: task arguments are not sent to the API.
        return load_task(url, quote(batch), dump_id, run_id, source, cfg, _batch_label())

    def progress(location: str, c: BatchCounts) -> None:
        logger.info(
            "%s: %d records (%d kept, %d duplicates, %d rejected)",
            Path(location).name,
            c.records,
            c.articles,
            c.duplicates,
            c.rejects,
        )

    try:
        start_run(run)
        with Heartbeat(engine, run.run_id):
            mark_partition_running(run)
            for planned in plan_task(run, config_path):
                result = ingest_dump(
                    run, planned, prepare=prepare, load=load, lookahead=workers, progress=progress
                )
                record_result(run, result)
    except BaseException as exc:
        finish_run(run, exc)
        if isinstance(exc, Exception) and run.partition:
            try:
                record_partition_task(run, exc)
            except Exception as err:  # the run's own failure is the one to raise
                logger.error("the day's failure could not be recorded: %s", failure_text(err))
            publish_day(url, source, day)  # the table shows the failed day too (never raises)
        raise
    finally:
        stack.close()  # the Dask client, when there is one
    summary = finish_run(run)
    if run.partition:
        record_partition_task(run)
    create_markdown_artifact(
        markdown=summary.markdown(), key="ingest-summary", description="newsetl ingest run"
    )
    if summary.dumps:
        create_table_artifact(
            table=[
                {
                    "dump": d.location,
                    "status": d.status,
                    "read": d.counts.records,
                    "kept": d.counts.articles,
                    "exact": d.counts.exact_duplicates,
                    "near": d.counts.near_duplicates,
                    "rejected": d.counts.rejects,
                    "seconds": round(d.seconds, 2),
                    "rejects and duplicates": _explain_dump(d),
                }
                for d in summary.dumps
            ],
            key="ingest-dumps",
            description="per dump: read, kept, exact and near duplicates, rejected, seconds, and the "
            "command that lists its rejects and duplicates",
        )
    if not flow_run.get_parent_flow_run_id():  # a backfill publishes one report for all its days
        publish_report(url)
    publish_day(url, source, day)  # the source's partitions table, this day as it now stands
    return summary


def _explain_dump(d) -> str:
    dropped = d.counts.rejects + d.counts.duplicates
    return f"newsetl explain dump:{d.dump_id}" if d.dump_id is not None and dropped else ""
