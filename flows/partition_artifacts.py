"""The partitions table artifact of a source, refreshed from the ledger by every run that handles a day.

Key ``partitions-<source>`` (etl.partition_table.artifact_key): a backfill publishes
the days of its range, an ingest run of one day of a source (a scheduled run, or
a day retried on its own) the source's recent days. The latest artifact under the
key therefore shows a retried day as it now stands. Like the report, a table that
cannot be published is a warning, never a failed run.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from etl.partition_table import artifact_key, range_table, recent_table
from etl.warehouse.db import engine_for


def run_link(run_id: str | None) -> str:
    """A link to a flow run in the Prefect UI, or its bare id without a UI."""
    if not run_id:
        return ""
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/runs/flow-run/{run_id}" if ui else run_id


def publish_range(
    db_url: str,
    source: str,
    start: datetime.date,
    end: datetime.date,
    runs: Mapping[datetime.date, str] | None = None,
) -> list[dict] | None:
    """Publish the days ``start``..``end`` of ``source`` (a backfill's range) as the ledger has them.

    A backfill of one day is that day retried: the table shows the source's recent
    days around it, as after an ingest run of the day (:func:`publish_day`).
    """
    try:
        if start == end:
            rows = recent_table(engine_for(db_url), source, start, run_link, runs)
            what = f"partitions of {source}, latest days (after {start})"
        else:
            rows = range_table(engine_for(db_url), source, start, end, run_link, runs)
            what = f"partitions of {source}, {start}..{end}"
        _publish(source, rows, what)
    except Exception as exc:  # the days are recorded; the table is a view of them
        get_run_logger().warning("partitions artifact not published: %s: %s", type(exc).__name__, exc)
        return None
    return rows


def publish_day(db_url: str, source: str | None, day: datetime.date | None) -> list[dict] | None:
    """After an ingest of one day of a source: publish that source's recent days.

    Nothing for a run of dump locations (no day), nor for a day run of a backfill:
    the backfill publishes its whole range once, at its end.
    """
    if source is None or day is None or flow_run.get_parent_flow_run_id():
        return None
    try:
        rows = recent_table(engine_for(db_url), source, day, run_link)
        _publish(source, rows, f"partitions of {source}, latest days (after {day})")
    except Exception as exc:
        get_run_logger().warning("partitions artifact not published: %s: %s", type(exc).__name__, exc)
        return None
    return rows


def _publish(source: str, rows: list[dict], what: str) -> None:
    create_table_artifact(
        table=rows,
        key=artifact_key(source),
        description=f"{what}: status, counts, reason, and the flow run that last handled each day",
    )
