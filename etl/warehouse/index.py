"""The persistent near-duplicate index: band keys and signatures stored beside the articles.

Lookups are bulk ``IN`` queries in chunks, so one batch costs a handful of
round trips however large the warehouse grows (band keys are the leading
column of ``lsh_bands``' primary key).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from typing import TypeVar

import numpy as np
from sqlalchemy import BigInteger, String, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from etl.config import HASHFUNCS, DedupConfig
from etl.dedup.stored import StoredHead
from etl.errors import IndexMismatchError
from etl.text import dedup_text
from etl.warehouse.bulk import BigintArray, bigint_array_adapters
from etl.warehouse.models import ArticleRow, IndexSetting, LshBand

FINGERPRINT_KEY = "dedup_fingerprint"
LOOKUP_CHUNK = 50_000
_NO_IDS = np.zeros(0, dtype=np.int64)
# A (band key, article id) pair as the lookup returns it: two big-endian BIGINTs (int8send).
_BIGINT_PAIR = np.dtype([("a", ">i8"), ("b", ">i8")])

T = TypeVar("T")


def chunked(values: Collection[T], size: int = LOOKUP_CHUNK) -> Iterator[list[T]]:
    seq: Sequence[T] = list(values)
    for start in range(0, len(seq), size):
        yield list(seq[start : start + size])


class SqlIndex:
    """``etl.dedup.matcher.WarehouseIndex`` over an open connection (inside the load transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self._jit_off = False

    def _values(self, values: list, sql_type):
        """``values`` as a one-column table (``value``), sent as a single bound parameter.

        Joining it to an indexed column makes the database probe the index once
        per value: an expanded ``IN`` list of thousands of parameters costs more to
        build and parse than to run, and Postgres may plan ``= ANY(<large array>)``
        as a sequential scan of the whole index table.
        """
        if self.postgres:
            # The values are integers or hex digests: the literal needs no quoting,
            # and a join is far cheaper than adapting the list element by element.
            literal = "{" + ",".join(map(str, values)) + "}"
            array = cast(bindparam(None, literal, type_=String), ARRAY(sql_type))
            return func.unnest(array).table_valued("value").render_derived(name="wanted")
        doc = bindparam(None, json.dumps(values), type_=String)
        return func.json_each(doc).table_valued("value").alias("wanted")

    def ids_by_hash(self, hashes: Collection[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in chunked(hashes):
            wanted = self._values(part, String)
            rows = self.conn.execute(
                select(ArticleRow.content_hash, func.min(ArticleRow.id))
                .join(wanted, ArticleRow.content_hash == wanted.c.value)
                .group_by(ArticleRow.content_hash)
            )
            out.update({h: aid for h, aid in rows})
        return out

    def candidates(self, band_keys: Collection[int]) -> dict[int, list[int]]:
        """Stored article ids under each of ``band_keys`` (keys with none are absent)."""
        out: dict[int, list[int]] = defaultdict(list)
        keys, ids = self.candidate_pairs(np.fromiter(band_keys, dtype=np.int64, count=len(band_keys)))
        for key, aid in zip(keys.tolist(), ids.tolist(), strict=True):
            out[key].append(aid)
        return out

    def candidate_pairs(self, band_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every stored (band key, article id) pair whose key is one of ``band_keys``, as two arrays.

        A batch's lookup returns tens of thousands of pairs: on Postgres they come
        back as one bytea that numpy reads in place (see _packed_pairs), with no
        Python object per row.
        """
        keys = np.sort(np.asarray(band_keys, dtype=np.int64))
        if keys.shape[0] > 1:  # distinct: sorting and comparing neighbours is 4x faster than np.unique
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        found_keys, found_ids = [_NO_IDS], [_NO_IDS]
        for start in range(0, keys.shape[0], LOOKUP_CHUNK):
            part = keys[start : start + LOOKUP_CHUNK]
            if self.postgres:
                pairs = self._packed_pairs(part)
                found_keys.append(pairs["a"].astype(np.int64))
                found_ids.append(pairs["b"].astype(np.int64))
                continue
            wanted = self._values(part.tolist(), BigInteger)
            rows = self.conn.execute(
                select(LshBand.band_key, LshBand.article_id).join(wanted, LshBand.band_key == wanted.c.value)
            ).all()
            found_keys.append(np.array([k for k, _ in rows], dtype=np.int64))
            found_ids.append(np.array([a for _, a in rows], dtype=np.int64))
        return np.concatenate(found_keys), np.concatenate(found_ids)

    def _packed_pairs(self, keys: np.ndarray) -> np.ndarray:
        """The pairs under ``keys`` as one bytea built by the server: one row to fetch, not one per pair.

        A COPY or a row per pair costs the driver a round of Python work per row (tens
        of thousands per batch); ``string_agg`` of each pair's big-endian bytes
        (``int8send``) is a single value that numpy reads in place.
        """
        sql = (
            "SELECT string_agg(int8send(b.band_key) || int8send(b.article_id), ''::bytea)"
            " FROM lsh_bands b JOIN unnest(%b) AS wanted(value) ON b.band_key = wanted.value"
        )
        driver = self.conn.connection.driver_connection
        with driver.cursor(binary=True) as cur:
            bigint_array_adapters(cur)
            if not self._jit_off:
                # The lookup's cost estimate grows with the index; compiling it would cost more than it saves.
                cur.execute("SET LOCAL jit = off")
                self._jit_off = True
            data = cur.execute(sql, (BigintArray(keys),)).fetchone()[0]
        return np.frombuffer(data or b"", dtype=_BIGINT_PAIR)

    def dedup_texts(self, ids: Collection[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for part in chunked(ids):
            wanted = self._values(part, BigInteger)
            rows = self.conn.execute(
                select(ArticleRow.id, ArticleRow.body).join(wanted, ArticleRow.id == wanted.c.value)
            )
            out.update({aid: dedup_text(body) for aid, body in rows})
        return out

    def heads(self, ids: Collection[int]) -> dict[int, StoredHead]:
        """Content hash, headline and time of stored candidates: what the rules need before any text."""
        out: dict[int, StoredHead] = {}
        for part in chunked(ids):
            wanted = self._values(part, BigInteger)
            rows = self.conn.execute(
                select(
                    ArticleRow.id, ArticleRow.content_hash, ArticleRow.title, ArticleRow.published_at
                ).join(wanted, ArticleRow.id == wanted.c.value)
            )
            out.update({aid: StoredHead(h, title or "", when) for aid, h, title, when in rows})
        return out

    def published(self, ids: Collection[int]) -> dict[int, object]:
        out: dict[int, object] = {}
        for part in chunked(ids):
            wanted = self._values(part, BigInteger)
            rows = self.conn.execute(
                select(ArticleRow.id, ArticleRow.published_at).join(wanted, ArticleRow.id == wanted.c.value)
            )
            out.update(dict(rows.all()))
        return out


def ensure_fingerprint(conn: Connection, cfg: DedupConfig) -> None:
    """Record the dedup settings on first use; refuse to mix incompatible signatures later."""
    stored = conn.execute(
        select(IndexSetting.value).where(IndexSetting.key == FINGERPRINT_KEY)
    ).scalar_one_or_none()
    if stored == cfg.fingerprint:
        return
    if stored is None:
        conn.execute(IndexSetting.__table__.insert().values(key=FINGERPRINT_KEY, value=cfg.fingerprint))
        return
    has_articles = conn.execute(select(ArticleRow.id).limit(1)).first() is not None
    if not has_articles:
        conn.execute(
            IndexSetting.__table__.update()
            .where(IndexSetting.key == FINGERPRINT_KEY)
            .values(value=cfg.fingerprint)
        )
        return
    raise IndexMismatchError(
        f"the warehouse's near-duplicate index was built with dedup settings {stored!r}, "
        f"but the current settings are {cfg.fingerprint!r}; mixing them would silently miss "
        "duplicates. Restore the previous [dedup] settings, or rebuild the index with "
        "`newsetl dedup reindex`." + _hashfunc_hint(stored, cfg)
    )


def _hashfunc_hint(stored: str, cfg: DedupConfig) -> str:
    """The one setting that keeps the stored index, when the shingle hash is all that differs."""
    for name in HASHFUNCS:
        if name != cfg.hashfunc and stored == cfg.fingerprint.replace(f"-{cfg.hashfunc}-", f"-{name}-", 1):
            return (
                f' Only the shingle hash differs: set hashfunc = "{name}" under [dedup] to keep this index.'
            )
    return ""


def reindex(engine, cfg: DedupConfig, chunk: int = 2000, progress=None) -> int:
    """Rebuild signatures and band keys of every stored article with the current settings.

    Runs in one transaction under the dedup lock, so loads wait and nobody ever
    sees a half-built index; returns the number of articles indexed.
    """
    from sqlalchemy import delete, update

    from etl.dedup.prepare import stored_keys
    from etl.dedup.signatures import signature_to_bytes
    from etl.warehouse.bulk import bulk_insert
    from etl.warehouse.lock import take_dedup_lock
    from etl.warehouse.models import ArticleSignature

    done = 0
    with engine.begin() as conn:
        take_dedup_lock(conn)
        conn.execute(delete(LshBand))
        conn.execute(delete(ArticleSignature))
        last_id = 0
        while True:
            rows = conn.execute(
                select(ArticleRow.id, ArticleRow.body, ArticleRow.title, ArticleRow.published_at)
                .where(ArticleRow.id > last_id)
                .order_by(ArticleRow.id)
                .limit(chunk)
            ).all()
            if not rows:
                break
            sigs, keys = stored_keys(rows, cfg)
            bulk_insert(
                conn,
                ArticleSignature.__table__,
                [
                    {"article_id": aid, "signature": signature_to_bytes(sigs[i], cfg)}
                    for i, (aid, *_) in enumerate(rows)
                ],
            )
            bulk_insert(
                conn,
                LshBand.__table__,
                [
                    {"band_key": k, "article_id": aid}
                    for i, (aid, *_) in enumerate(rows)
                    for k in {int(x) for x in keys[i]}
                ],
            )
            done += len(rows)
            last_id = rows[-1][0]
            if progress:
                progress(done)
        stored = conn.execute(select(IndexSetting.key).where(IndexSetting.key == FINGERPRINT_KEY)).first()
        if stored:
            conn.execute(
                update(IndexSetting).where(IndexSetting.key == FINGERPRINT_KEY).values(value=cfg.fingerprint)
            )
        else:
            conn.execute(IndexSetting.__table__.insert().values(key=FINGERPRINT_KEY, value=cfg.fingerprint))
    return done
