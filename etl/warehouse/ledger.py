"""The ``dumps`` and ``runs`` ledgers: what was seen, what was loaded, by which run.

A run records which process runs it (``host``, ``pid``) and beats a heartbeat
while it works, so the next run can tell a live run from one whose process was
killed: :func:`abandon_stale_runs` marks the dead ones ``abandoned`` and hands
their half-loaded dumps back (status ``abandoned``: resumable like ``failed``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from etl.names import printable
from etl.records import RejectReason
from etl.warehouse import states
from etl.warehouse.models import Dump, Partition, RejectRow, Run

# dump states (anything but DONE is resumable from records_done); the schema allows only these
DONE = states.DUMP_DONE
LOADING = states.DUMP_LOADING
FAILED = states.DUMP_FAILED
ABANDONED = states.DUMP_ABANDONED
# run states
RUNNING = states.RUN_RUNNING
COMPLETED = states.RUN_COMPLETED
RUN_FAILED = states.RUN_FAILED
RUN_ABANDONED = states.RUN_ABANDONED

# A live run touches heartbeat_at at least this often (etl.runner starts the beat)...
HEARTBEAT_SECONDS = 30.0
# ...so a running row not touched for this long belongs to a dead process, wherever it ran.
STALE_AFTER_SECONDS = 300.0

# Runs this process is executing now: a row with our own pid is alive only if listed.
_ACTIVE_RUNS: set[str] = set()
# Read, but the format of the dump or of some member could not be told: its rejects say so,
# and a later run (with --format, or a newer reader) reads those members again.
UNKNOWN_FORMAT = states.DUMP_UNKNOWN_FORMAT


def utcnow() -> datetime:
    return datetime.now(UTC)


def this_host() -> str:
    return socket.gethostname()[:255]


@dataclass(frozen=True, slots=True)
class DumpState:
    id: int
    status: str
    records_done: int
    source: str
    location: str
    articles: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    rejects: int = 0


def _insert(engine: Engine):
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def start_run(engine: Engine, run_id: str, kind: str, parameters: dict[str, Any]) -> None:
    """Create the run row, or reopen it when a flow run is retried with the same id."""
    now = utcnow()
    alive = {"host": this_host(), "pid": os.getpid(), "heartbeat_at": now}
    stmt = _insert(engine)(Run).values(
        id=run_id, kind=kind, parameters=parameters, status=RUNNING, started_at=now, **alive
    )
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[Run.id],
                set_={"status": RUNNING, "finished_at": None, "error": None, **alive},
            )
        )
    _ACTIVE_RUNS.add(run_id)


def heartbeat(engine: Engine, run_id: str) -> None:
    """Say that the run's process is alive (called every HEARTBEAT_SECONDS by the runner)."""
    with engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == run_id, Run.status == RUNNING).values(heartbeat_at=utcnow()))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def is_dead(row: Any, now: datetime, stale_after: float = STALE_AFTER_SECONDS) -> str | None:
    """Why the ``running`` run in ``row`` is certainly dead, or None when it may be alive.

    On this host the process itself is asked (its pid is gone, or it is this
    process and the run is not among ours); elsewhere only a heartbeat older than
    ``stale_after`` seconds says so.
    """
    last = _aware(row.heartbeat_at) or _aware(row.started_at)
    if last is not None and now - last > timedelta(seconds=stale_after):
        return f"no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC"
    if row.host == this_host() and row.pid is not None:
        if row.pid == os.getpid():
            return None if row.id in _ACTIVE_RUNS else f"process {row.pid} no longer runs it"
        if not _pid_alive(row.pid):
            return f"process {row.pid} on {row.host} is gone"
    return None


def abandon_stale_runs(engine: Engine, stale_after: float = STALE_AFTER_SECONDS) -> list[str]:
    """Mark ``running`` runs whose process died as ``abandoned``; their dumps become resumable.

    Their ``loading`` dumps (last touched by the dead run) turn ``abandoned`` and
    their ``running`` partitions too; the next load of such a dump resumes after
    its last committed batch, exactly as after a failure.
    """
    now = utcnow()
    with engine.begin() as conn:
        rows = conn.execute(
            select(Run.id, Run.host, Run.pid, Run.heartbeat_at, Run.started_at).where(Run.status == RUNNING)
        ).all()
        dead = {r.id: why for r in rows if (why := is_dead(r, now, stale_after))}
        for run_id, why in dead.items():
            conn.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == RUNNING)
                .values(status=RUN_ABANDONED, finished_at=now, error=f"abandoned: {why}")
            )
        if dead:
            conn.execute(
                update(Dump)
                .where(Dump.status == LOADING, Dump.last_run_id.in_(list(dead)))
                .values(status=ABANDONED)
            )
            conn.execute(
                update(Partition)
                .where(Partition.status == RUNNING, Partition.run_id.in_(list(dead)))
                .values(
                    status=states.PARTITION_ABANDONED,
                    finished_at=now,
                    note="the run that loaded it was abandoned",
                )
            )
    return sorted(dead)


def finish_run(
    engine: Engine,
    run_id: str,
    status: str,
    *,
    dumps_read: int,
    dumps_skipped: int,
    error: str | None = None,
) -> None:
    _ACTIVE_RUNS.discard(run_id)
    with engine.begin() as conn:
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                dumps_read=dumps_read,
                dumps_skipped=dumps_skipped,
                error=printable(error) if error else None,
                heartbeat_at=utcnow(),
            )
        )


# The counts a run row carries; a backfill's are the sums of its day runs'.
_COUNTED = (
    "dumps_read",
    "dumps_skipped",
    "records",
    "articles",
    "exact_duplicates",
    "near_duplicates",
    "rejects",
)


def finish_backfill_run(
    engine: Engine, run_id: str, status: str, day_run_ids: Sequence[str], error: str | None = None
) -> None:
    """Close a backfill's run row with the counts of the ingest runs of its days, summed.

    Each day is an ingest run with its own row (written by whichever process ran
    it, here or a worker); summing those rows gives the backfill the same columns,
    so ``newsetl runs`` shows what it did without a second bookkeeping path.
    """
    _ACTIVE_RUNS.discard(run_id)
    with engine.begin() as conn:
        sums = conn.execute(
            select(*(func.coalesce(func.sum(getattr(Run, c)), 0) for c in _COUNTED)).where(
                Run.id.in_(list(day_run_ids)), Run.id != run_id
            )
        ).one()
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                error=printable(error) if error else None,
                heartbeat_at=utcnow(),
                **{c: int(v) for c, v in zip(_COUNTED, sums, strict=True)},
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
        exact_duplicates=0,
        near_duplicates=0,
        rejects=0,
        first_run_id=run_id,
        last_run_id=run_id,
        created_at=utcnow(),
    )
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=[Dump.sha256]))
        # The state as found (a caller tells a re-read of unknown_format members from a
        # resume by it); a known dump not yet done is then this run's: "loading" again, by us.
        row = conn.execute(select(Dump.__table__).where(Dump.sha256 == sha256)).one()
        conn.execute(
            update(Dump)
            .where(Dump.sha256 == sha256, Dump.status != DONE)
            .values(status=LOADING, last_run_id=run_id)
        )
        return DumpState(
            id=row.id,
            status=row.status,
            records_done=row.records_done,
            source=row.source,
            location=row.location,
            articles=row.articles,
            exact_duplicates=row.exact_duplicates,
            near_duplicates=row.near_duplicates,
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
