"""The partitions table of a source: the ledger's days, with a link to each day's latest run."""

from __future__ import annotations

from datetime import date

import pytest

from etl.partition_table import artifact_key, recent_table, table_rows
from etl.warehouse import partitions
from etl.warehouse.ledger import start_run


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("wire", "partitions-wire"),
        ("tass_daily", "partitions-tass-daily"),
        ("Reuters.EN", "partitions-reuters-en"),
    ],
)
def test_artifact_key_is_what_prefect_accepts(source: str, key: str) -> None:
    assert artifact_key(source) == key


def test_rows_come_from_the_ledger_with_reason_and_run_link() -> None:
    ledger_rows = [
        _row(date(2024, 3, 2), "failed", run_id=None, note="HTTP 500 after 2 tries"),
        _row(date(2024, 3, 1), "done", run_id="r1", records=5, articles=4),
    ]
    rows = table_rows(
        ledger_rows, lambda run: f"ui/{run}" if run else "", [date(2024, 3, 3)], {date(2024, 3, 2): "r2"}
    )

    assert [(r["day"], r["status"], r["read"], r["kept"], r["reason"], r["flow_run"]) for r in rows] == [
        ("2024-03-01", "done", 5, 4, "", "ui/r1"),
        ("2024-03-02", "failed", 0, 0, "HTTP 500 after 2 tries", "ui/r2"),  # run known to the caller only
        ("2024-03-03", "not run", 0, 0, "", ""),
    ]


def test_recent_table_includes_an_old_retried_day(sqlite_url: str) -> None:
    from etl.config import DedupConfig
    from etl.warehouse.db import make_engine
    from etl.warehouse.schema import prepare_warehouse

    engine = make_engine(sqlite_url)
    prepare_warehouse(engine, DedupConfig())
    start_run(engine, "run-1", "ingest", {})
    days = [date(2024, 3, d) for d in range(1, 6)]
    for day in days:
        partitions.mark_running(engine, "wire", day, "run-1")
        partitions.mark_finished(engine, "wire", day, partitions.DONE, records=day.day)
    partitions.mark_running(engine, "other", days[0], "run-1")

    rows = recent_table(engine, "wire", days[0], str, limit=2)
    engine.dispose()

    assert [(r["day"], r["read"], r["flow_run"]) for r in rows] == [
        ("2024-03-01", 1, "run-1"),
        ("2024-03-04", 4, "run-1"),
        ("2024-03-05", 5, "run-1"),
    ]


def _row(day: date, status: str, run_id: str | None, note: str | None = None, **counts: int) -> dict:
    return {
        "day": day,
        "status": status,
        "run_id": run_id,
        "note": note,
        "attempts": 1,
        "records": counts.get("records", 0),
        "articles": counts.get("articles", 0),
        "exact_duplicates": 0,
        "near_duplicates": 0,
        "rejects": 0,
    }
