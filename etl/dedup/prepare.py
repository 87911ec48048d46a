"""The index keys of stories: MinHash band keys of the text, plus headline keys.

Used by the prepare stage (etl.batches.prepare_batch) and, for stored
articles, by ``newsetl dedup reindex`` and ``newsetl explain``, so that the three
compute the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import numpy as np

from etl.config import DedupConfig
from etl.dedup.evidence import headline_keys
from etl.dedup.features import TextFeatures
from etl.dedup.signatures import sign_tokens
from etl.text import dedup_text, words


class Headed(Protocol):
    title: str
    published_at: datetime | None


def index_keys(
    token_lists: Sequence[list[str]],
    stories: Sequence[Headed],
    cfg: DedupConfig,
    features: Sequence[TextFeatures] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Signatures and every stored index key of each story (band keys, then headline keys).

    ``features``: the texts' etl.dedup.features when the caller computed them (see sign_tokens).
    """
    signatures, bands = sign_tokens(token_lists, cfg, features)
    if not cfg.headline_keys:
        return signatures, list(bands)
    out = []
    for i, tokens in enumerate(token_lists):
        extra = headline_keys(stories[i].title, stories[i].published_at, len(tokens))
        out.append(np.concatenate([bands[i], np.asarray(extra, dtype=np.int64)]) if extra else bands[i])
    return signatures, out


def stored_keys(rows: Sequence, cfg: DedupConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`index_keys` of stored articles (rows with ``body``, ``title``, ``published_at``)."""
    return index_keys([words(dedup_text(r.body)) for r in rows], rows, cfg)
