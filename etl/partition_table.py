"""The partition ledger of one source as a table of days, for operators (a Prefect table artifact).

Built from the ledger, not from one run's results: after a day is retried on its
own, the next table shows it as the ledger does, and every other day too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from etl.backfill import days_between
from etl.warehouse import partitions

RECENT_DAYS = 30  # days shown when one day of a source is ingested on its own
_NOTHING = {
    "read": 0,
    "kept": 0,
    "exact": 0,
    "near": 0,
    "rejected": 0,
    "attempts": 0,
    "reason": "",
    "flow_run": "",
}


def artifact_key(source: str) -> str:
    """``partitions-<source>`` in the characters Prefect allows in a key (lowercase, digits, dashes).

    Source names that differ only in case or in ``_``/``.``/``-`` share a key.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-")
    return f"partitions-{slug or 'source'}"


def table_rows(
    source_rows: Iterable[Mapping[str, Any]],
    link: Callable[[str | None], str],
    days: Iterable[date] = (),
    runs: Mapping[date, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per day, oldest first: the ledger's status, counts and note, and a run link.

    ``days`` that have no ledger row are shown ``not run``. ``runs`` names the flow
    run of a day whose latest attempt failed before its run was recorded (the
    ledger's ``run_id`` is then empty, see etl.warehouse.partitions.mark_running).
    """
    by_day = {r["day"]: r for r in source_rows}
    out = []
    for day in sorted(set(by_day) | set(days)):
        r = by_day.get(day)
        if r is None:
            out.append({"day": day.isoformat(), "status": "not run", **_NOTHING})
            continue
        run = r.get("run_id") or (runs or {}).get(day)
        out.append(
            {
                "day": day.isoformat(),
                "status": r["status"],
                "read": r["records"],
                "kept": r["articles"],
                "exact": r["exact_duplicates"],
                "near": r["near_duplicates"],
                "rejected": r["rejects"],
                "attempts": r["attempts"],
                "reason": r.get("note") or "",
                "flow_run": link(run),
            }
        )
    return out


def range_table(
    engine: Engine,
    source: str,
    start: date,
    end: date,
    link: Callable[[str | None], str],
    runs: Mapping[date, str] | None = None,
) -> list[dict[str, Any]]:
    """Every day from ``start`` to ``end`` (a backfill's range) as the ledger has it."""
    known = partitions.states(engine, source, start, end)
    return table_rows(known.values(), link, days_between(start, end), runs)


def recent_table(
    engine: Engine,
    source: str,
    day: date,
    link: Callable[[str | None], str],
    runs: Mapping[date, str] | None = None,
    limit: int = RECENT_DAYS,
) -> list[dict[str, Any]]:
    """The source's latest ``limit`` ledger days, and ``day`` (the one just ingested) if older."""
    rows = partitions.recent(engine, limit=limit, source=source)
    if day not in {r["day"] for r in rows}:
        rows += partitions.states(engine, source, day, day).values()
    return table_rows(rows, link, [day], runs)
