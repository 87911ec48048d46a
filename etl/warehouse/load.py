"""Loading one batch: dedup decisions and every row they produce, in one transaction.

The transaction starts by taking the warehouse-wide dedup lock (a Postgres
advisory lock; on SQLite, the database write lock), so two concurrent loads
can never both keep a pair of near-duplicates. Signatures were computed before,
outside the lock; inside it happen only the index lookups, the verification of
the few candidates, and the bulk inserts. The dump's ``records_done`` moves in
the same transaction, so a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from etl.checkpoints import checkpoint
from etl.config import DedupConfig
from etl.counts import BatchCounts
from etl.dedup.matcher import Action, Decision, PreparedArticle, match_batch
from etl.dedup.signatures import signature_to_bytes
from etl.names import printable
from etl.records import Reject
from etl.textdiff import pack
from etl.warehouse import states
from etl.warehouse.bulk import bulk_insert, insert_bigint_pairs
from etl.warehouse.index import SqlIndex
from etl.warehouse.ledger import utcnow
from etl.warehouse.lock import take_dedup_lock
from etl.warehouse.models import (
    ArticleRow,
    ArticleSignature,
    Dump,
    Duplicate,
    LshBand,
    RejectRow,
    Run,
)
from etl.warehouse.stats import refresh_planner_stats


def _take_dedup_lock(conn: Connection, dump_id: int, run_id: str) -> None:
    take_dedup_lock(conn)
    conn.execute(update(Dump).where(Dump.id == dump_id).values(last_run_id=run_id))


def _article_row(p: PreparedArticle, article_id: int, run_id: str, dump_id: int, now) -> dict:
    a = p.article
    return {
        "id": article_id,
        "run_id": run_id,
        "dump_id": dump_id,
        "ordinal": a.ordinal,
        "source": a.source,
        "url": a.url,
        "locator": printable(a.locator),
        "title": a.title,
        "body": a.body,
        "lead": a.lead,
        "published_at": a.published_at,
        "section": a.section,
        "dateline": a.dateline,
        "dateline_place": a.dateline_place,
        "agency": a.agency,
        "topics": list(a.topics),
        "persons": list(a.persons),
        "authors": list(a.authors),
        "language": a.language,
        "description": a.description,
        "content_hash": a.content_hash,
        "ingested_at": now,
    }


def _duplicate_row(p: PreparedArticle, d: Decision, kept_id: int, run_id: str, dump_id: int, now) -> dict:
    a = p.article
    return {
        "run_id": run_id,
        "dump_id": dump_id,
        "ordinal": a.ordinal,
        "source": a.source,
        "url": a.url,
        "locator": printable(a.locator),
        "title": a.title,
        "published_at": a.published_at,
        "content_hash": a.content_hash,
        "duplicate_of": kept_id,
        "method": d.action.value,
        "measure": d.measure,
        "relation": d.relation,
        "similarity": d.similarity,
        "ingested_at": now,
        "body_z": pack(a.body),
    }


def _reject_row(r: Reject, source: str, run_id: str, dump_id: int, now) -> dict:
    return {
        "run_id": run_id,
        "dump_id": dump_id,
        "ordinal": r.ordinal,
        "source": source,
        "locator": printable(r.locator),
        "reason_code": str(r.reason_code),
        "reason": printable(r.reason.replace("\x00", "")),
        "raw": printable(r.raw.replace("\x00", "\\0")),
        "ingested_at": now,
    }


def load_batch(
    engine: Engine,
    *,
    dump_id: int,
    run_id: str,
    source: str,
    prepared: Sequence[PreparedArticle],
    rejects: Sequence[Reject],
    end: int,
    cfg: DedupConfig,
) -> BatchCounts:
    """Dedup and load one batch whose records end before ordinal ``end``.

    Records the ledger says are already loaded (an earlier crashed run, or a
    concurrent one) are skipped and counted as ``already_loaded``.
    """
    counts = _load_batch(engine, dump_id, run_id, source, prepared, rejects, end, cfg)
    if counts.records:
        refresh_planner_stats(engine)
    return counts


def _load_batch(
    engine: Engine,
    dump_id: int,
    run_id: str,
    source: str,
    prepared: Sequence[PreparedArticle],
    rejects: Sequence[Reject],
    end: int,
    cfg: DedupConfig,
) -> BatchCounts:
    with engine.begin() as conn:
        _take_dedup_lock(conn, dump_id, run_id)
        done = conn.execute(select(Dump.records_done).where(Dump.id == dump_id)).scalar_one()
        fresh = [p for p in prepared if p.article.ordinal >= done]
        fresh_rejects = [r for r in rejects if r.ordinal >= done]
        counts = BatchCounts(already_loaded=len(prepared) + len(rejects) - len(fresh) - len(fresh_rejects))
        if done >= end:
            return counts

        decisions = match_batch(fresh, SqlIndex(conn), cfg)
        next_id = (conn.execute(select(func.max(ArticleRow.id))).scalar() or 0) + 1
        batch_ids: dict[int, int] = {}
        for i, d in enumerate(decisions):
            if d.action == Action.KEEP:
                batch_ids[i] = next_id
                next_id += 1
            elif d.action == Action.REPLACE:
                batch_ids[i] = d.kept.article_id
        replaced = _replace_stored(conn, fresh, decisions, run_id, dump_id, cfg)

        now = utcnow()
        article_rows, signature_rows, duplicate_rows = [], [], []
        band_keys: list[np.ndarray] = []  # each indexed article's keys, beside its id
        band_ids: list[int] = []
        for i, (p, d) in enumerate(zip(fresh, decisions, strict=True)):
            if d.action == Action.REPLACE:
                signature_rows.append(
                    {"article_id": batch_ids[i], "signature": signature_to_bytes(p.signature, cfg)}
                )
                band_keys.append(p.band_keys)
                band_ids.append(batch_ids[i])
            elif d.action == Action.KEEP:
                aid = batch_ids[i]
                article_rows.append(_article_row(p, aid, run_id, dump_id, now))
                signature_rows.append({"article_id": aid, "signature": signature_to_bytes(p.signature, cfg)})
                band_keys.append(p.band_keys)
                band_ids.append(aid)
            else:
                kept = d.kept
                kept_id = kept.article_id if kept.article_id is not None else batch_ids[kept.batch_index]
                duplicate_rows.append(_duplicate_row(p, d, kept_id, run_id, dump_id, now))
        reject_rows = [_reject_row(r, source, run_id, dump_id, now) for r in fresh_rejects]

        bulk_insert(conn, ArticleRow.__table__, article_rows)
        bulk_insert(conn, ArticleSignature.__table__, signature_rows)
        keys, ids = _distinct_key_rows(band_keys, band_ids)
        insert_bigint_pairs(conn, LshBand.__table__, ("band_key", "article_id"), keys, ids)
        bulk_insert(conn, Duplicate.__table__, duplicate_rows)
        bulk_insert(conn, RejectRow.__table__, reject_rows)

        counts.articles = len(article_rows) + replaced
        counts.replaced = replaced
        counts.exact_duplicates = sum(1 for d in decisions if d.action == Action.EXACT)
        counts.near_duplicates = sum(1 for d in decisions if d.action == Action.NEAR)
        counts.rejects = len(reject_rows)
        counts.records = counts.articles + counts.duplicates + counts.rejects
        _advance_ledgers(conn, dump_id, run_id, end, counts)
        checkpoint("load")  # a fault test may kill the process here, before the commit
        return counts


def _distinct_key_rows(band_keys: list[np.ndarray], band_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The (key, article) rows of the index, each once (a key may repeat within an article), in key order.

    Key order lets the B-tree take them in one sweep. The sort is stable and each
    article's keys are contiguous before it, so an article's repeated key ends up
    adjacent to itself: one comparison with the previous row finds it.
    """
    if not band_keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = np.concatenate(band_keys).astype(np.int64, copy=False)
    ids = np.repeat(np.asarray(band_ids, dtype=np.int64), [k.shape[0] for k in band_keys])
    by_key = np.argsort(keys, kind="stable")
    keys, ids = keys[by_key], ids[by_key]
    first = np.ones(keys.shape[0], dtype=bool)
    first[1:] = (keys[1:] != keys[:-1]) | (ids[1:] != ids[:-1])
    return keys[first], ids[first]


_CONTENT_COLUMNS = (
    "run_id",
    "dump_id",
    "ordinal",
    "source",
    "url",
    "locator",
    "title",
    "body",
    "lead",
    "published_at",
    "section",
    "dateline",
    "dateline_place",
    "agency",
    "topics",
    "persons",
    "authors",
    "language",
    "description",
    "content_hash",
    "ingested_at",
)


def _replace_stored(conn: Connection, fresh, decisions, run_id: str, dump_id: int, cfg: DedupConfig) -> int:
    """Apply ``replace`` decisions: the stored row takes the new record, the old becomes its duplicate.

    The article keeps its id, so duplicates that already point at it stay right;
    the displaced version is recorded with its own run, dump and position, so
    every run still accounts for each of its records exactly once.
    """
    pairs = [(p, d) for p, d in zip(fresh, decisions, strict=True) if d.action == Action.REPLACE]
    if not pairs:
        return 0
    ids = [d.kept.article_id for _, d in pairs]
    old = {r.id: r for r in conn.execute(select(ArticleRow.__table__).where(ArticleRow.id.in_(ids)))}
    now = utcnow()
    displaced, updates = [], []
    for p, d in pairs:
        aid = d.kept.article_id
        before = old[aid]
        displaced.append(
            {
                "run_id": before.run_id,
                "dump_id": before.dump_id,
                "ordinal": before.ordinal,
                "source": before.source,
                "url": before.url,
                "locator": before.locator,
                "title": before.title,
                "published_at": before.published_at,
                "content_hash": before.content_hash,
                "duplicate_of": aid,
                "method": states.EXACT if d.measure == "hash" else states.NEAR,
                "measure": d.measure,
                "similarity": d.similarity,
                "relation": d.relation,
                "ingested_at": before.ingested_at,
                "body_z": pack(before.body),
            }
        )
        row = _article_row(p, aid, run_id, dump_id, now)
        updates.append({"target_id": aid, **{c: row[c] for c in _CONTENT_COLUMNS}})
    # One statement for all of them: the driver sends the rows as one pipelined batch.
    conn.execute(
        update(ArticleRow)
        .where(ArticleRow.id == bindparam("target_id"))
        .values({c: bindparam(c) for c in _CONTENT_COLUMNS}),
        updates,
    )
    conn.execute(delete(LshBand).where(LshBand.article_id.in_(ids)))
    conn.execute(delete(ArticleSignature).where(ArticleSignature.article_id.in_(ids)))
    bulk_insert(conn, Duplicate.__table__, displaced)
    return len(pairs)


def _advance_ledgers(conn: Connection, dump_id: int, run_id: str, end: int, c: BatchCounts) -> None:
    dump_values: dict[str, Any] = {
        "records_done": end,
        "articles": Dump.articles + c.articles,
        "exact_duplicates": Dump.exact_duplicates + c.exact_duplicates,
        "near_duplicates": Dump.near_duplicates + c.near_duplicates,
        "rejects": Dump.rejects + c.rejects,
    }
    conn.execute(update(Dump).where(Dump.id == dump_id).values(**dump_values))
    conn.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(
            records=Run.records + c.records,
            articles=Run.articles + c.articles,
            exact_duplicates=Run.exact_duplicates + c.exact_duplicates,
            near_duplicates=Run.near_duplicates + c.near_duplicates,
            rejects=Run.rejects + c.rejects,
        )
    )
