"""Backfills: one partition per (source, day), each ingested on its own, resumable.

The partition ledger (``partitions``) records each day's state. Planning skips
days already ``done`` or ``empty`` unless forced, so a re-run does nothing and
an interrupted backfill resumes where it stopped; a day left ``running`` by a
crash is taken again. Dedup is warehouse-wide, so loading old days after newer
ones still keeps one copy of each story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from etl.errors import TerminalError
from etl.summary import RunSummary
from etl.warehouse import partitions
from etl.warehouse.ledger import utcnow


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    day: date
    action: str  # "run" | "skip"
    reason: str


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise TerminalError(f"--end {end} is before --start {start}")
    if (end - start).days > 3660:
        raise TerminalError("a backfill covers at most ten years; split it")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan(engine: Engine, source: str, start: date, end: date, force: bool = False) -> list[PartitionPlan]:
    known = partitions.states(engine, source, start, end)
    out = []
    for day in days_between(start, end):
        state = known.get(day, {}).get("status")
        if state in partitions.FINISHED and not force:
            out.append(PartitionPlan(day, "skip", f"already {state}"))
        else:
            out.append(
                PartitionPlan(day, "run", "forced" if state in partitions.FINISHED else state or "new")
            )
    return out


def record_outcome(engine: Engine, source: str, day: date, summary: RunSummary) -> str:
    """Mark a partition after its ingest: done, empty (no dump that day) or failed.

    A day already done that is fetched again unchanged (HTTP 304, or a body whose
    sha256 is loaded) stays done with the counts of the run that loaded it: its
    articles are in the warehouse, and the ledger must not say otherwise. The
    later fetch is recorded as a check in the note.
    """
    t = summary.totals
    previous = partitions.states(engine, source, day, day).get(day, {})
    loaded_before = previous.get("records", 0) > 0
    if not summary.ok:
        status = partitions.FAILED
        note = "; ".join(f"{loc}: {why}" for loc, why in summary.failures)
    elif t.records == 0 and loaded_before:
        checks = [n for _, n in summary.notes] or ["dump unchanged, already loaded"]
        partitions.mark_finished(
            engine,
            source,
            day,
            partitions.DONE,
            records=previous["records"],
            articles=previous["articles"],
            exact_duplicates=previous["exact_duplicates"],
            near_duplicates=previous["near_duplicates"],
            rejects=previous["rejects"],
            note=f"checked {utcnow():%Y-%m-%d %H:%M} UTC: " + "; ".join(checks),
        )
        return partitions.DONE
    elif not summary.dumps and summary.notes:
        status, note = partitions.EMPTY, "; ".join(n for _, n in summary.notes)
    else:
        status, note = partitions.DONE, None
    partitions.mark_finished(
        engine,
        source,
        day,
        status,
        records=t.records,
        articles=t.articles,
        exact_duplicates=t.exact_duplicates,
        near_duplicates=t.near_duplicates,
        rejects=t.rejects,
        note=note,
    )
    return status
