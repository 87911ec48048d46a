"""The prepare stage: a batch of records normalised, signed and featurised.

CPU-heavy and free of any database: worker processes (etl.parallel, Dask, Prefect
tasks) import this module to run ``prepare_batch`` without the loading side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from etl.checkpoints import checkpoint
from etl.config import DedupConfig
from etl.dedup.evidence import pack as pack_evidence
from etl.dedup.evidence import text_evidence
from etl.dedup.evidence import unpack as unpack_evidence
from etl.dedup.features import features_of_batch
from etl.dedup.features import pack as pack_features
from etl.dedup.features import unpack as unpack_features
from etl.dedup.matcher import PreparedArticle
from etl.dedup.prepare import index_keys
from etl.normalize import normalize_all
from etl.records import Article, RawRecord, Reject
from etl.text import words


@dataclass(slots=True)
class PreparedBatch:
    """A batch after the CPU-heavy stage: articles with signatures, plus rejects.

    ``end`` is one past the last ordinal the batch covers; it becomes the dump's
    resume point once the batch is loaded.
    """

    prepared: list[PreparedArticle]
    rejects: list[Reject]
    end: int
    seconds: float = 0.0
    # seconds per step of the preparation ("normalise", "sign", "features"), for benchmarks and logs
    stages: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prepared) + len(self.rejects)

    def __getstate__(self) -> tuple:
        """A batch travels from a prepare worker as a few flat arrays, not thousands of small ones."""
        items = self.prepared
        with_features = bool(items) and all(p.text is not None for p in items)
        with_evidence = bool(items) and all(p.text_evidence is not None for p in items)
        return (
            [p.article for p in items],
            np.vstack([p.signature for p in items]) if items else None,
            # headline keys make the key count vary from article to article
            np.fromiter((len(p.band_keys) for p in items), dtype=np.int64, count=len(items)),
            np.concatenate([p.band_keys for p in items]) if items else None,
            pack_features([p.text for p in items]) if with_features else None,
            pack_evidence([p.text_evidence for p in items]) if with_evidence else None,
            self.rejects,
            self.end,
            self.seconds,
            self.stages,
        )

    def __setstate__(self, state: tuple) -> None:
        (articles, signatures, key_counts, keys, packed, evidence, self.rejects, self.end, self.seconds,
         self.stages) = state  # fmt: skip
        n = len(articles)
        features = unpack_features(packed) if packed is not None else [None] * n
        texts = (
            unpack_evidence(evidence, [a.dedup_text for a in articles])
            if evidence is not None
            else [None] * n
        )
        ends = np.cumsum(key_counts).tolist() if n else []
        starts = [0, *ends[:-1]]
        self.prepared = [
            PreparedArticle(a, signatures[i], keys[starts[i] : ends[i]], features[i], texts[i])
            for i, a in enumerate(articles)
        ]


def prepare_batch(records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig) -> PreparedBatch:
    """Normalise, sign and featurise a batch: the CPU-heavy stage, run outside any lock.

    Each text is split into words once; its signature, band keys and the
    features verification compares all come from those words.
    """
    checkpoint("prepare")
    started = time.perf_counter()
    articles: list[Article] = []
    token_lists: list[list[str]] = []
    rejects: list[Reject] = []
    for item in normalize_all(records, source):
        if isinstance(item, Article):
            articles.append(item)
            token_lists.append(words(item.dedup_text))  # right after its content hash: normalised once
        else:
            rejects.append(item)
    normalised = time.perf_counter()
    features = features_of_batch(token_lists, cfg.shingle_size)
    featured = time.perf_counter()
    signatures, keys = index_keys(token_lists, articles, cfg, features)
    signed = time.perf_counter()
    evidence = [text_evidence(a.dedup_text, token_lists[i]) for i, a in enumerate(articles)]
    prepared = [
        PreparedArticle(a, signatures[i], keys[i], features[i], evidence[i]) for i, a in enumerate(articles)
    ]
    done = time.perf_counter()
    end = max(r.ordinal for r in records) + 1 if records else 0
    stages = {
        "normalise": normalised - started,
        "features": featured - normalised,
        "sign": signed - featured,
        "evidence": done - signed,
    }
    return PreparedBatch(prepared, rejects, end, seconds=done - started, stages=stages)


def inline_prepare(records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig) -> Future:
    """Prepare in the calling process; returns an already-done future."""
    done: Future = Future()
    try:
        done.set_result(prepare_batch(records, source, cfg))
    except Exception as exc:
        done.set_exception(exc)
    return done
