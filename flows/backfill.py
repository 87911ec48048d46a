"""The ``backfill`` flow: one ``ingest`` subflow run per (source, day), bounded parallelism.

Days already done (or empty: no dump that day) are skipped unless ``force``; a
re-run does nothing and an interrupted backfill resumes where it stopped. Each
day is its own flow run, so it shows, retries and fails on its own.
"""

from __future__ import annotations

import contextvars
import datetime
from concurrent.futures import ThreadPoolExecutor, as_completed

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed

from etl.backfill import plan
from etl.config import load_settings
from etl.progress import observer
from etl.runner import Heartbeat
from etl.warehouse import ledger, partitions
from etl.warehouse.db import engine_for
from etl.warehouse.schema import prepare_warehouse
from flows.ingest import database_url, ingest
from flows.partition_artifacts import publish_range, run_link
from flows.report import publish_report


@flow(name="backfill", log_prints=False, flow_run_name="backfill {source} {start}..{end}")
def backfill(
    source: str,
    start: str,
    end: str,
    max_parallel: int = 2,
    force: bool = False,
    dry_run: bool = False,
    db_url: str | None = None,
    config_path: str | None = None,
    via_deployment: str | None = None,
) -> list[dict]:
    """Ingest every day from ``start`` to ``end`` (inclusive) of a configured source.

    In-process, each day is a subflow run. With ``via_deployment`` (``flow/deployment``
    of the ingest flow, as the served ``backfill`` deployment sets it) each day is a
    run of that deployment with the idempotency key ``source:day:attempt``, so a
    backfill started twice never creates two runs for one day, and workers can take
    the days.
    """
    logger = get_run_logger()
    settings = load_settings(config_path)
    url = database_url(db_url, settings)
    engine = engine_for(url)
    prepare_warehouse(engine, settings.dedup)
    planned = plan(
        engine, source, datetime.date.fromisoformat(start), datetime.date.fromisoformat(end), force
    )
    todo = [p.day for p in planned if p.action == "run"]
    logger.info(
        "backfill %s %s..%s: %d day(s) to run, %d skipped",
        source,
        start,
        end,
        len(todo),
        len(planned) - len(todo),
    )
    results: dict[datetime.date, dict] = {
        p.day: {"day": p.day.isoformat(), "status": "skipped", "reason": p.reason}
        for p in planned
        if p.action == "skip"
    }
    if dry_run:
        for p in planned:
            logger.info("%s: %s (%s)", p.day, "would run" if p.action == "run" else "skip", p.reason)
        return [{"day": p.day.isoformat(), "action": p.action, "reason": p.reason} for p in planned]

    run_id = flow_run_id()
    ledger.start_run(engine, run_id, "backfill", {"source": source, "start": start, "end": end})
    day_runs: list[str] = []  # the ingest run of each day: the backfill's counts are their sums
    run_ids: dict[datetime.date, str] = {}  # the same, by day, for the partitions table

    def one_day(day: datetime.date) -> dict:
        row = run_day(day)
        run_ids[day] = row.pop("run_id", "")
        return row

    def run_day(day: datetime.date) -> dict:
        if via_deployment:
            # Same source, day and attempt: same flow run, however often the backfill is
            # started. A failed day counts an attempt, so resuming creates a new run; a
            # forced re-run gets a key of its own.
            attempts = partitions.states(engine, source, day, day).get(day, {}).get("attempts", 0)
            key = f"{source}:{day.isoformat()}:{attempts}" + (f":force:{flow_run_id()}" if force else "")
            return _run_deployment_day(via_deployment, source, day, engine, config_path, key, day_runs)
        # db_url only as given: a URL taken from the environment or a secret stays out of
        # the subflow's parameters.
        final = ingest(
            locations=[],
            source=source,
            db_url=db_url,
            config_path=config_path,
            date=day.isoformat(),
            return_state=True,
        )
        day_run = str(final.state_details.flow_run_id or "")
        day_runs.append(day_run)
        link = run_link(day_run)
        if not final.is_completed():
            return {
                "day": day.isoformat(),
                "status": "failed",
                "reason": final.message or "",
                "flow_run": link,
                "run_id": day_run,
            }
        summary = final.result()
        t = summary.totals
        return {
            "day": day.isoformat(),
            "status": "failed" if not summary.ok else ("empty" if not summary.dumps else "done"),
            "read": t.records,
            "kept": t.articles,
            "exact": t.exact_duplicates,
            "near": t.near_duplicates,
            "rejected": t.rejects,
            "seconds": round(summary.elapsed, 2),
            "reason": "; ".join(f"{loc}: {why}" for loc, why in summary.failures),
            "flow_run": link,
            "run_id": day_run,
        }

    observer().partitions_planned(len(todo))
    try:
        # The heartbeat keeps the row "running" in the eyes of the day runs, which mark
        # runs without one abandoned.
        with Heartbeat(engine, run_id), ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
            # copy_context: each subflow run links to this backfill run as its parent
            futures = {pool.submit(contextvars.copy_context().run, one_day, day): day for day in todo}
            for done, future in enumerate(as_completed(futures), start=1):
                day = futures[future]
                try:
                    results[day] = future.result()
                except Exception as exc:  # the partition is marked failed by the subflow
                    results[day] = {"day": day.isoformat(), "status": "failed", "reason": str(exc)}
                logger.info("[%d/%d] %s: %s", done, len(todo), day, results[day]["status"])
                observer().partition_finished(day.isoformat(), results[day]["status"])
    except BaseException as exc:
        ledger.finish_backfill_run(
            engine, run_id, ledger.RUN_FAILED, day_runs, f"{type(exc).__name__}: {exc}"
        )
        raise

    rows = [results[d] for d in sorted(results)]
    # The days as the ledger has them, including days this run skipped: the table under
    # the source's key is refreshed whenever a day is ingested again, alone or in a backfill.
    publish_range(
        url,
        source,
        datetime.date.fromisoformat(start),
        datetime.date.fromisoformat(end),
        {d: r for d, r in run_ids.items() if r},
    )
    failed = [r for r in rows if r["status"] == "failed"]
    skipped = len(planned) - len(todo)
    create_markdown_artifact(
        markdown=f"# backfill {source} {start}..{end}\n\n"
        f"{len(todo)} run, {skipped} skipped, {len(failed)} failed\n"
        + "".join(f"\n- {r['day']}: failed: {r.get('reason') or r.get('note') or ''}" for r in failed),
        key="backfill-summary",
    )
    ledger.finish_backfill_run(
        engine,
        run_id,
        ledger.RUN_FAILED if failed else ledger.COMPLETED,
        day_runs,
        "; ".join(f"{r['day']}: {r.get('reason') or ''}" for r in failed) or None,
    )
    publish_report(url)
    if failed:
        # The flow run's state is what the UI, `prefect deployment run --watch` and
        # automations see: a backfill with a failed day must not end Completed.
        days = ", ".join(r["day"] for r in failed)
        return Failed(message=f"{len(failed)} of {len(todo)} day(s) failed: {days}", data=rows)
    return rows


def flow_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.get_id())


def _run_deployment_day(
    deployment: str,
    source: str,
    day: datetime.date,
    engine,
    config_path: str | None,
    key: str,
    day_runs: list[str],
) -> dict:
    """Run one day through the ingest deployment and read its outcome from the partition ledger.

    The run finds the warehouse as the deployment does (environment, config, secret):
    the URL is never passed as a parameter.
    """
    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        deployment,
        parameters={"source": source, "date": day.isoformat(), "config_path": config_path},
        idempotency_key=key,
        timeout=None,
        as_subflow=True,
    )
    day_runs.append(str(flow_run.id))
    state = partitions.states(engine, source, day, day).get(day, {})
    status = state.get("status") or ("failed" if not flow_run.state.is_completed() else "done")
    if not flow_run.state.is_completed():
        status = "failed"
    return {
        "day": day.isoformat(),
        "status": status,
        "read": state.get("records", 0),
        "kept": state.get("articles", 0),
        "exact": state.get("exact_duplicates", 0),
        "near": state.get("near_duplicates", 0),
        "rejected": state.get("rejects", 0),
        "reason": state.get("note") or ("" if status != "failed" else flow_run.state.message or ""),
        "flow_run": run_link(str(flow_run.id)),
        "run_id": str(flow_run.id),
    }
