"""Everything duplicate detection needs of a batch of articles, computed once and outside any lock.

Each text is split into words once; its MinHash signature, index keys (body and
lead bands, plus headline keys), the features verification compares and the
evidence the pair rules weigh all come from one pass here, in the prepare
workers, so the load step only looks up and compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from etl.config import DedupConfig
from etl.dedup.evidence import context_of, headline_keys
from etl.dedup.features import features_of_tokens
from etl.dedup.matcher import PreparedArticle
from etl.dedup.signatures import sign_tokens
from etl.records import Article
from etl.text import dedup_text, words


def prepare_articles(articles: Sequence[Article], cfg: DedupConfig) -> list[PreparedArticle]:
    token_lists = [words(a.dedup_text) for a in articles]
    signatures, keys = index_keys(
        token_lists, [a.title for a in articles], [a.published_at for a in articles], cfg
    )
    return [
        PreparedArticle(
            a,
            signatures[i],
            keys[i],
            features_of_tokens(token_lists[i], cfg.shingle_size),
            context_of(a.title, a.body, a.dedup_text, a.published_at),
        )
        for i, a in enumerate(articles)
    ]


def index_keys(
    token_lists: Sequence[list[str]],
    titles: Sequence[str],
    published: Sequence[datetime | None],
    cfg: DedupConfig,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Signatures and every stored index key of each story (band keys, then headline keys)."""
    signatures, bands = sign_tokens(token_lists, cfg)
    if not cfg.headline_keys:
        return signatures, list(bands)
    out = []
    for i, tokens in enumerate(token_lists):
        extra = headline_keys(titles[i], published[i], len(tokens))
        out.append(np.concatenate([bands[i], np.asarray(extra, dtype=np.int64)]) if extra else bands[i])
    return signatures, out


def stored_keys(
    bodies: Sequence[str], titles: Sequence[str], published: Sequence[datetime | None], cfg: DedupConfig
) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`index_keys` of stored articles, from what the warehouse keeps (reindex, explain)."""
    return index_keys([words(dedup_text(b)) for b in bodies], titles, published, cfg)
