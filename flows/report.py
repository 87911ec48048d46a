"""The warehouse report as Prefect artifacts, published at the end of ingest and backfill runs.

A markdown artifact carries the report's tables (the UI renders markdown, not
scripts); a link artifact points at the HTML page with the charts, written next
to the default warehouse (``data/report.html``, or ``$NEWSETL_REPORT``). A
report that cannot be written is a warning, never a failed run: the data is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from etl.report import render_markdown, write_html
from etl.warehouse.db import engine_for
from etl.warehouse.report import collect

DEFAULT_REPORT = "data/report.html"


def report_path() -> Path:
    return Path(os.environ.get("NEWSETL_REPORT") or DEFAULT_REPORT).expanduser().resolve()


def publish_report(db_url: str) -> Path | None:
    """Write the HTML report and publish it as artifacts of the current flow run."""
    logger = get_run_logger()
    try:
        data = collect(engine_for(db_url))
        path = write_html(data, report_path())
        create_markdown_artifact(
            markdown=render_markdown(data, path),
            key="warehouse-report",
            description="newsetl warehouse report: totals, relations, reject reasons, clusters",
        )
        create_link_artifact(
            link=path.as_uri(),
            link_text=f"warehouse report with charts ({path})",
            key="warehouse-report-html",
            description="the self-contained HTML report (opens offline)",
        )
    except Exception as exc:  # the load succeeded; a report problem must not fail it
        logger.warning("warehouse report not written: %s: %s", type(exc).__name__, exc)
        return None
    logger.info("warehouse report: %s", path)
    return path
