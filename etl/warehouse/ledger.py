"""The ``dumps`` and ``runs`` ledgers: what was seen, what was loaded, by which run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from etl.records import RejectReason
from etl.warehouse.models import Dump, RejectRow, Run

DONE = "done"
LOADING = "loading"
FAILED = "failed"
# Read, but the format of the dump or of some member could not be told: its rejects say so,
# and a later run (with --format, or a newer reader) reads those members again.
UNKNOWN_FORMAT = "unknown_format"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DumpState:
    id: int
    status: str
    records_done: int
    source: str
    location: str
    articles: int = 0
    duplicates: int = 0
    rejects: int = 0


def _insert(engine: Engine):
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def start_run(engine: Engine, run_id: str, kind: str, parameters: dict[str, Any]) -> None:
    """Create the run row, or reopen it when a flow run is retried with the same id."""
    stmt = _insert(engine)(Run).values(
        id=run_id, kind=kind, parameters=parameters, status="running", started_at=utcnow()
    )
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[Run.id], set_={"status": "running", "finished_at": None}
            )
        )


def finish_run(
    engine: Engine,
    run_id: str,
    status: str,
    *,
    dumps_read: int,
    dumps_skipped: int,
    error: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                dumps_read=dumps_read,
                dumps_skipped=dumps_skipped,
                error=error,
            )
        )


def claim_dump(
    engine: Engine,
    *,
    source: str,
    location: str,
    sha256: str,
    size: int,
    fmt: str | None,
    run_id: str,
    etag: str | None = None,
    last_modified: str | None = None,
) -> DumpState:
    """The ledger row for this content, created if new. Same bytes, same row: idempotence."""
    stmt = _insert(engine)(Dump).values(
        source=source,
        location=location,
        sha256=sha256,
        size=size,
        format=fmt,
        etag=etag,
        last_modified=last_modified,
        status=LOADING,
        records_done=0,
        articles=0,
        duplicates=0,
        rejects=0,
        first_run_id=run_id,
        last_run_id=run_id,
        created_at=utcnow(),
    )
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=[Dump.sha256]))
        row = conn.execute(select(Dump.__table__).where(Dump.sha256 == sha256)).one()
        return DumpState(
            id=row.id,
            status=row.status,
            records_done=row.records_done,
            source=row.source,
            location=row.location,
            articles=row.articles,
            duplicates=row.duplicates,
            rejects=row.rejects,
        )


def finish_dump(engine: Engine, dump_id: int, status: str, encoding: str | None = None) -> None:
    """Mark the dump done (or failed): written last, it is the commit marker of the dump."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
    if encoding:
        values["encoding"] = encoding
    with engine.begin() as conn:
        conn.execute(update(Dump).where(Dump.id == dump_id).values(**values))


def unknown_format_members(engine: Engine, dump_id: int) -> list[str]:
    """Member locations of the dump whose format could not be told (from their rejects)."""
    with engine.connect() as conn:
        locators = conn.execute(
            select(RejectRow.locator).where(
                RejectRow.dump_id == dump_id, RejectRow.reason_code == str(RejectReason.UNKNOWN_FORMAT)
            )
        ).scalars()
        return sorted({locator.rsplit("#", 1)[0] for locator in locators})


def replace_unknown_format_rejects(engine: Engine, dump_id: int, below: int, fmt: str | None) -> int:
    """Delete the dump's "cannot tell the format" rejects numbered below ``below``; how many.

    Called once the members they stood for were read again (their records now
    numbered from ``below``), so every input record stays exactly one row; the
    dump's reject count follows, and ``fmt`` (when given) becomes its format.
    """
    with engine.begin() as conn:
        deleted = conn.execute(
            delete(RejectRow).where(
                RejectRow.dump_id == dump_id,
                RejectRow.reason_code == str(RejectReason.UNKNOWN_FORMAT),
                RejectRow.ordinal < below,
            )
        ).rowcount
        values: dict[str, Any] = {"rejects": Dump.rejects - deleted}
        if fmt:
            values["format"] = fmt
        conn.execute(update(Dump).where(Dump.id == dump_id).values(**values))
    return deleted


def last_validators(engine: Engine, location: str) -> tuple[str | None, str | None] | None:
    """ETag and Last-Modified of the latest loaded dump fetched from ``location``, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Dump.etag, Dump.last_modified)
            .where(Dump.location == location, Dump.status == DONE)
            .order_by(Dump.id.desc())
            .limit(1)
        ).first()
    return (row.etag, row.last_modified) if row else None


def recent_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Run.__table__).order_by(Run.started_at.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
