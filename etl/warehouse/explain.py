"""Why a record was kept or dropped, and its nearest stored neighbours."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from etl.config import DedupConfig
from etl.dedup.prepare import stored_keys
from etl.dedup.shingles import containment, features, jaccard, word_similarity
from etl.text import dedup_text
from etl.textdiff import unpack, word_diff
from etl.warehouse.index import SqlIndex
from etl.warehouse.models import ArticleRow, Duplicate, RejectRow


@dataclass(slots=True)
class Neighbour:
    article_id: int
    title: str
    jaccard: float
    containment: float
    words: float  # share of words in the same order (the "edit" measure)


@dataclass(slots=True)
class Explanation:
    query: str
    found: str  # "article" | "duplicate" | "reject" | "none"
    article: dict | None = None
    reject: dict | None = None
    duplicate: dict | None = None
    kept: dict | None = None
    neighbours: list[Neighbour] = field(default_factory=list)
    # for a dropped record: its word diff against the kept article ([] = same words);
    # None when its text was not kept (rows loaded before duplicates.body_z)
    diff: list[str] | None = None


def _article(conn, article_id: int) -> dict | None:
    row = conn.execute(select(ArticleRow.__table__).where(ArticleRow.id == article_id)).first()
    return dict(row._mapping) if row else None


def explain(engine: Engine, query: str, cfg: DedupConfig, limit: int = 5) -> Explanation:
    """Look ``query`` up as an article id, a URL or a locator, in articles, duplicates and rejects."""
    out = Explanation(query=query, found="none")
    with engine.connect() as conn:
        if query.isdigit():
            out.article = _article(conn, int(query))
        if out.article is None:
            row = conn.execute(
                select(ArticleRow.__table__)
                .where(or_(ArticleRow.url == query, ArticleRow.locator == query))
                .limit(1)
            ).first()
            out.article = dict(row._mapping) if row else None
        if out.article is None:
            row = conn.execute(
                select(Duplicate.__table__)
                .where(or_(Duplicate.url == query, Duplicate.locator == query))
                .order_by(Duplicate.id)
                .limit(1)
            ).first()
            if row:
                out.duplicate = dict(row._mapping)
                out.kept = _article(conn, out.duplicate["duplicate_of"])
                dropped = unpack(out.duplicate.pop("body_z", None))
                out.duplicate["body"] = dropped
                if dropped is not None and out.kept is not None:
                    out.diff = word_diff(dropped, out.kept["body"])
        subject = out.article or out.kept
        if subject is None:
            row = conn.execute(
                select(RejectRow.__table__).where(RejectRow.locator == query).order_by(RejectRow.id).limit(1)
            ).first()
            if row:
                out.found, out.reject = "reject", dict(row._mapping)
            return out
        out.found = "article" if out.article else "duplicate"
        text = dedup_text(subject["body"])
        mine = features(text, cfg.shingle_size)
        keys = stored_keys([SimpleNamespace(**subject)], cfg)[1][0]
        index = SqlIndex(conn)
        ids = set(index.candidate_pairs(keys)[1].tolist())
        ids.discard(subject["id"])
        texts = index.dedup_texts(ids)
        titles = (
            dict(
                conn.execute(
                    select(ArticleRow.id, ArticleRow.title).where(ArticleRow.id.in_(list(ids)))
                ).all()
            )
            if ids
            else {}
        )
        for aid, other_text in texts.items():
            theirs = features(other_text, cfg.shingle_size)
            out.neighbours.append(
                Neighbour(
                    aid,
                    titles.get(aid, ""),
                    jaccard(mine.shingles, theirs.shingles),
                    containment(mine.shingles, theirs.shingles),
                    word_similarity(mine.tokens, theirs.tokens),
                )
            )
        out.neighbours.sort(key=lambda n: (-max(n.jaccard, n.containment, n.words), n.article_id))
        del out.neighbours[limit:]
    return out
