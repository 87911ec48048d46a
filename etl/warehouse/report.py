"""The figures behind ``newsetl report``: every count and histogram, computed in SQL.

Each function returns small aggregated rows (per source and day, per bin, per
reason); nothing here loads articles into memory, so the report stays fast on a
warehouse of a million articles. The same queries run on SQLite and Postgres;
only the day, floor and duration expressions differ by dialect.

What a record's day is, for the per-day chart and ``since``:
- a kept article or a duplicate: its publication day (UTC), else the day it was loaded;
- a reject (it has no trustworthy date of its own): the day of the partition its run
  loaded, else the publication day of the first kept article of its dump, else the
  day it was loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, and_, case, cast, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from etl.warehouse import states
from etl.warehouse.models import ArticleRow, Duplicate, Partition, RejectRow, Run

SIMILARITY_BINS = 20  # 0.05 wide
MAX_CLUSTERS = 15
MAX_RUNS = 200
MAX_PARTITION_DAYS = 3660


@dataclass(slots=True)
class ReportData:
    """Everything the report shows, as plain rows (dicts) ready to render."""

    warehouse: str
    since: date | None
    source: str | None
    totals: dict[str, int]
    per_source: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    similarity: list[dict[str, Any]]
    relations: list[dict[str, Any]]
    reject_reasons: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    partitions: list[dict[str, Any]]


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _day(conn: Connection, col: ColumnElement) -> ColumnElement:
    """The UTC calendar day of a timestamp column, as a date (Postgres) or 'YYYY-MM-DD' (SQLite)."""
    if _pg(conn):
        return cast(func.timezone("UTC", col), Date)
    return func.substr(col, 1, 10)


def _bin(conn: Connection, similarity: ColumnElement) -> ColumnElement:
    scaled = similarity * SIMILARITY_BINS
    # SQLite's CAST truncates, which is floor for these non-negative values; Postgres's rounds.
    raw = func.floor(scaled) if _pg(conn) else cast(scaled, Integer)
    # similarity 1.0 belongs to the last bin
    return case((raw >= SIMILARITY_BINS, SIMILARITY_BINS - 1), else_=raw)


def _seconds(conn: Connection, start: ColumnElement, end: ColumnElement) -> ColumnElement:
    if _pg(conn):
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def collect(engine: Engine, *, since: date | None = None, source: str | None = None) -> ReportData:
    """Read every figure of the report from the warehouse (a handful of aggregate queries)."""
    from etl.warehouse.db import describe

    with engine.connect() as conn:
        daily = _daily(conn, since, source)
        per_source = _per_source(daily)
        totals = {k: sum(r[k] for r in per_source) for k in ("read", "kept", "exact", "near", "rejects")}
        return ReportData(
            warehouse=describe(engine),
            since=since,
            source=source,
            totals=totals,
            per_source=per_source,
            daily=daily,
            similarity=_similarity(conn, since, source),
            relations=_relations(conn, since, source),
            reject_reasons=_reject_reasons(conn, since, source),
            clusters=_clusters(conn, since, source),
            runs=_runs(conn, since),
            partitions=_partitions(conn, since, source),
        )


def _article_day(conn: Connection, model) -> ColumnElement:
    return func.coalesce(_day(conn, model.published_at), _day(conn, model.ingested_at))


def _filters(conn: Connection, model, day: ColumnElement, since: date | None, source: str | None) -> list:
    out = []
    if source:
        out.append(model.source == source)
    if since:
        out.append(day >= (since if _pg(conn) else since.isoformat()))
    return out


def _reject_day(conn: Connection) -> tuple[ColumnElement, Any]:
    """A reject's day (see the module docstring) and the FROM clause that provides it."""
    # One probe of the (dump_id, ordinal) index per dump that has rejects, not a scan of articles.
    dumps = select(RejectRow.dump_id.label("dump_id")).distinct().subquery("reject_dumps")
    first_pub = (
        select(ArticleRow.published_at)
        .where(ArticleRow.dump_id == dumps.c.dump_id)
        .order_by(ArticleRow.ordinal)
        .limit(1)
        .correlate(dumps)
        .scalar_subquery()
    )
    first_story = select(dumps.c.dump_id, first_pub.label("first_pub")).subquery("first_story")
    # A run loads one partition; min() keeps one row per run even if a ledger says otherwise.
    run_day = (
        select(Partition.run_id, Partition.source, func.min(Partition.day).label("day"))
        .where(Partition.run_id.is_not(None))
        .group_by(Partition.run_id, Partition.source)
        .subquery("run_day")
    )
    partition_day = run_day.c.day if _pg(conn) else func.substr(run_day.c.day, 1, 10)
    day = func.coalesce(partition_day, _day(conn, first_story.c.first_pub), _day(conn, RejectRow.ingested_at))
    joined = RejectRow.__table__.outerjoin(
        run_day, and_(run_day.c.run_id == RejectRow.run_id, run_day.c.source == RejectRow.source)
    ).outerjoin(first_story, first_story.c.dump_id == RejectRow.dump_id)
    return day, joined


def _daily(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """Records per (day, source): kept, exact and near duplicates, rejects."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def add(day: Any, src: str, key: str, n: int) -> None:
        d = _iso(day) or "unknown"
        row = rows.setdefault(
            (d, src), {"day": d, "source": src, "kept": 0, "exact": 0, "near": 0, "rejects": 0}
        )
        row[key] += int(n)

    day = _article_day(conn, ArticleRow).label("day")
    q = select(day, ArticleRow.source, func.count()).where(*_filters(conn, ArticleRow, day, since, source))
    for d, src, n in conn.execute(q.group_by(day, ArticleRow.source)):
        add(d, src, "kept", n)

    day = _article_day(conn, Duplicate).label("day")
    q = select(day, Duplicate.source, Duplicate.method, func.count()).where(
        *_filters(conn, Duplicate, day, since, source)
    )
    for d, src, method, n in conn.execute(q.group_by(day, Duplicate.source, Duplicate.method)):
        add(d, src, "exact" if method == states.EXACT else "near", n)

    day, joined = _reject_day(conn)
    day = day.label("day")
    q = (
        select(day, RejectRow.source, func.count())
        .select_from(joined)
        .where(*_filters(conn, RejectRow, day, since, source))
    )
    for d, src, n in conn.execute(q.group_by(day, RejectRow.source)):
        add(d, src, "rejects", n)

    out = sorted(rows.values(), key=lambda r: (r["day"], r["source"]))
    for r in out:
        r["read"] = r["kept"] + r["exact"] + r["near"] + r["rejects"]
    return out


def _per_source(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-source totals, summed from the per-day aggregate (a few hundred rows at most per source)."""
    by: dict[str, dict[str, Any]] = {}
    for r in daily:
        t = by.setdefault(
            r["source"], {"source": r["source"], "read": 0, "kept": 0, "exact": 0, "near": 0, "rejects": 0}
        )
        for k in ("read", "kept", "exact", "near", "rejects"):
            t[k] += r[k]
    return sorted(by.values(), key=lambda t: -t["read"])


def _similarity(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """Near duplicates per similarity bin (0.05 wide) and measure."""
    day = _article_day(conn, Duplicate)
    b = _bin(conn, Duplicate.similarity).label("bin")
    q = (
        select(Duplicate.measure, b, func.count())
        .where(Duplicate.method == states.NEAR, *_filters(conn, Duplicate, day, since, source))
        .group_by(Duplicate.measure, b)
        .order_by(Duplicate.measure, b)
    )
    return [
        {"measure": m, "low": int(k) / SIMILARITY_BINS, "high": (int(k) + 1) / SIMILARITY_BINS, "count": n}
        for m, k, n in conn.execute(q)
    ]


def _relations(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """Duplicates by relation (copy, revision, update, excerpt) and method."""
    day = _article_day(conn, Duplicate)
    rel = func.coalesce(Duplicate.relation, literal("unknown")).label("relation")
    q = (
        select(rel, Duplicate.method, func.count())
        .where(*_filters(conn, Duplicate, day, since, source))
        .group_by(rel, Duplicate.method)
        .order_by(rel, Duplicate.method)
    )
    return [{"relation": r, "method": m, "count": n} for r, m, n in conn.execute(q)]


def _reject_reasons(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """Rejects per reason code and source, with one example sentence and locator."""
    day, joined = _reject_day(conn)
    q = (
        select(
            RejectRow.reason_code,
            RejectRow.source,
            func.count(),
            func.min(RejectRow.reason),
            func.min(RejectRow.locator),
        )
        .select_from(joined)
        .where(*_filters(conn, RejectRow, day, since, source))
        .group_by(RejectRow.reason_code, RejectRow.source)
        .order_by(func.count().desc(), RejectRow.reason_code)
    )
    return [
        {"reason_code": c, "source": s, "count": n, "example": ex, "locator": loc}
        for c, s, n, ex, loc in conn.execute(q)
    ]


def _clusters(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """The largest clusters: kept articles with the most duplicates, with their titles."""
    day = _article_day(conn, Duplicate)
    counts = (
        select(
            Duplicate.duplicate_of.label("article_id"),
            func.count().label("duplicates"),
            func.sum(case((Duplicate.method == states.EXACT, 1), else_=0)).label("exact"),
        )
        .where(*_filters(conn, Duplicate, day, since, source))
        .group_by(Duplicate.duplicate_of)
        .order_by(func.count().desc(), Duplicate.duplicate_of)
        .limit(MAX_CLUSTERS)
        .subquery("c")
    )
    q = (
        select(
            counts.c.article_id,
            counts.c.duplicates,
            counts.c.exact,
            ArticleRow.title,
            ArticleRow.source,
            ArticleRow.published_at,
        )
        .join(ArticleRow, ArticleRow.id == counts.c.article_id)
        .order_by(counts.c.duplicates.desc(), counts.c.article_id)
    )
    rows = conn.execute(q).all()
    # Sources per cluster only for the few shown: a distinct count over every group is a sort.
    ids = [r.article_id for r in rows]
    sources = (
        dict(
            conn.execute(
                select(Duplicate.duplicate_of, func.count(func.distinct(Duplicate.source)))
                .where(Duplicate.duplicate_of.in_(ids))
                .group_by(Duplicate.duplicate_of)
            ).all()
        )
        if ids
        else {}
    )
    return [
        {
            "article_id": a,
            "duplicates": int(n),
            "exact": int(e or 0),
            "near": int(n) - int(e or 0),
            "sources": int(sources.get(a, 0)),
            "title": t,
            "source": src,
            "published": _iso(p),
        }
        for a, n, e, t, src, p in rows
    ]


def _runs(conn: Connection, since: date | None) -> list[dict[str, Any]]:
    """The latest runs (oldest first) with their duration and records per second."""
    seconds = _seconds(conn, Run.started_at, Run.finished_at).label("seconds")
    q = select(
        Run.id,
        Run.kind,
        Run.status,
        Run.started_at,
        seconds,
        Run.records,
        Run.articles,
        Run.exact_duplicates,
        Run.near_duplicates,
        Run.rejects,
        Run.dumps_read,
    )
    if since:
        q = q.where(_day(conn, Run.started_at) >= (since if _pg(conn) else since.isoformat()))
    q = q.order_by(Run.started_at.desc()).limit(MAX_RUNS)
    out = []
    for r in conn.execute(q):
        secs = float(r.seconds) if r.seconds is not None else None
        out.append(
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "started": str(r.started_at)[:19],
                "seconds": secs,
                "records": r.records,
                "kept": r.articles,
                "duplicates": r.exact_duplicates + r.near_duplicates,
                "rejects": r.rejects,
                "dumps": r.dumps_read,
                "rate": (r.records / secs) if secs else None,
            }
        )
    return out[::-1]


def _partitions(conn: Connection, since: date | None, source: str | None) -> list[dict[str, Any]]:
    """The partition ledger: every (source, day) with its state, counts and failure reason."""
    q = select(
        Partition.source,
        Partition.day,
        Partition.status,
        Partition.attempts,
        Partition.records,
        Partition.note,
    )
    if source:
        q = q.where(Partition.source == source)
    if since:
        q = q.where(Partition.day >= since)
    q = q.order_by(Partition.source, Partition.day.desc()).limit(MAX_PARTITION_DAYS * 20)
    return [
        {
            "source": r.source,
            "day": _iso(r.day),
            "status": r.status,
            "attempts": r.attempts,
            "records": r.records,
            "note": r.note,
        }
        for r in conn.execute(q)
    ]


@dataclass(slots=True)
class DumpDetail:
    """One dump's ledger row and the records it did not keep: what ``newsetl explain dump:ID`` shows."""

    dump: dict[str, Any]
    rejects: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    reject_count: int
    duplicate_count: int


def dump_detail(engine: Engine, dump_id: int, limit: int = 50) -> DumpDetail | None:
    """A dump's rejects (with reasons) and duplicates (with the kept copy), first ``limit`` of each.

    Both lookups use the (dump_id, ordinal) unique indexes, so this is fast on any warehouse.
    """
    from etl.warehouse.models import Dump

    with engine.connect() as conn:
        row = conn.execute(select(Dump.__table__).where(Dump.id == dump_id)).first()
        if row is None:
            return None
        rejects = conn.execute(
            select(RejectRow.ordinal, RejectRow.locator, RejectRow.reason_code, RejectRow.reason)
            .where(RejectRow.dump_id == dump_id)
            .order_by(RejectRow.ordinal)
            .limit(limit)
        ).all()
        duplicates = conn.execute(
            select(
                Duplicate.ordinal,
                Duplicate.locator,
                Duplicate.method,
                Duplicate.measure,
                Duplicate.relation,
                Duplicate.similarity,
                Duplicate.duplicate_of,
                Duplicate.title,
            )
            .where(Duplicate.dump_id == dump_id)
            .order_by(Duplicate.ordinal)
            .limit(limit)
        ).all()
        n_rejects = conn.execute(
            select(func.count()).select_from(RejectRow).where(RejectRow.dump_id == dump_id)
        ).scalar_one()
        n_duplicates = conn.execute(
            select(func.count()).select_from(Duplicate).where(Duplicate.dump_id == dump_id)
        ).scalar_one()
    return DumpDetail(
        dump=dict(row._mapping),
        rejects=[dict(r._mapping) for r in rejects],
        duplicates=[dict(r._mapping) for r in duplicates],
        reject_count=n_rejects,
        duplicate_count=n_duplicates,
    )
