"""The partition ledger: one row per (source, day) with its state and counts."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from etl.warehouse import states
from etl.warehouse.ledger import utcnow
from etl.warehouse.models import Partition

PENDING = states.PARTITION_PENDING
RUNNING = states.PARTITION_RUNNING
DONE = states.PARTITION_DONE
EMPTY = states.PARTITION_EMPTY
FAILED = states.PARTITION_FAILED
ABANDONED = states.PARTITION_ABANDONED  # set by etl.warehouse.ledger.abandon_stale_runs
FINISHED = (DONE, EMPTY)


def states(engine: Engine, source: str, start: date, end: date) -> dict[date, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Partition.__table__).where(
                Partition.source == source, Partition.day >= start, Partition.day <= end
            )
        ).all()
    return {r.day: dict(r._mapping) for r in rows}


def ensure(engine: Engine, source: str, days: list[date]) -> None:
    """Create missing rows as pending; existing rows keep their state."""
    if not days:
        return
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "source": source,
            "day": d,
            "status": PENDING,
            "attempts": 0,
            "records": 0,
            "articles": 0,
            "exact_duplicates": 0,
            "near_duplicates": 0,
            "rejects": 0,
        }
        for d in days
    ]
    with engine.begin() as conn:
        conn.execute(insert(Partition).values(rows).on_conflict_do_nothing(index_elements=["source", "day"]))


def mark_running(engine: Engine, source: str, day: date, run_id: str | None) -> None:
    """Count an attempt at the day by ``run_id``, whose ``runs`` row must exist (a foreign key).

    None: the attempt failed before its run was recorded; it still counts, so a
    backfill resuming the day asks for a new flow run (see flows.backfill).
    """
    ensure(engine, source, [day])
    with engine.begin() as conn:
        conn.execute(
            update(Partition)
            .where(Partition.source == source, Partition.day == day)
            .values(
                status=RUNNING,
                run_id=run_id,
                started_at=utcnow(),
                finished_at=None,
                attempts=Partition.attempts + 1,
                note=None,
            )
        )


def mark_finished(
    engine: Engine,
    source: str,
    day: date,
    status: str,
    *,
    records: int = 0,
    articles: int = 0,
    exact_duplicates: int = 0,
    near_duplicates: int = 0,
    rejects: int = 0,
    note: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Partition)
            .where(Partition.source == source, Partition.day == day)
            .values(
                status=status,
                finished_at=utcnow(),
                records=records,
                articles=articles,
                exact_duplicates=exact_duplicates,
                near_duplicates=near_duplicates,
                rejects=rejects,
                note=note,
            )
        )


def recent(engine: Engine, limit: int = 30, source: str | None = None) -> list[dict[str, Any]]:
    stmt = select(Partition.__table__).order_by(Partition.source, Partition.day.desc()).limit(limit)
    if source:
        stmt = stmt.where(Partition.source == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
