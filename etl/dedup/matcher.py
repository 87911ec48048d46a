"""Deciding, for a batch, which articles are kept and which duplicate an earlier one.

Policy: first seen wins. The warehouse is earlier than any batch; within a
batch, lower ordinal is earlier. A record is an *exact* duplicate when its
``content_hash`` equals a kept article's, and a *near* duplicate when an LSH
candidate passes verification on exact shingle sets: Jaccard at least
``threshold``, or containment at least ``containment`` with the smaller text
holding at least ``min_containment_shingles`` shingles (a truncated or
updated wire version). LSH only proposes; verification decides, so a bucket
collision can never drop a distinct article.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from etl.config import DedupConfig
from etl.dedup.shingles import containment, jaccard, shingles
from etl.records import Article


@dataclass(slots=True)
class PreparedArticle:
    """An article with its MinHash signature and band keys, computed outside any lock."""

    article: Article
    signature: np.ndarray
    band_keys: np.ndarray
    _shingles: set[bytes] | None = field(default=None, repr=False)

    def shingles(self, cfg: DedupConfig) -> set[bytes]:
        if self._shingles is None:
            self._shingles = shingles(self.article.dedup_text, cfg.shingle_size)
        return self._shingles


class WarehouseIndex(Protocol):
    """What the matcher needs from the stored history (see etl.warehouse.index)."""

    def ids_by_hash(self, hashes: Collection[str]) -> dict[str, int]: ...

    def candidates(self, band_keys: Collection[int]) -> dict[int, list[int]]: ...

    def dedup_texts(self, ids: Collection[int]) -> dict[int, str]: ...


@dataclass(frozen=True, slots=True)
class KeptRef:
    """Reference to the kept copy: a stored article id, or a batch position."""

    article_id: int | None = None
    batch_index: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "keep" | "exact" | "near"
    kept: KeptRef | None = None
    measure: str | None = None  # "hash" | "jaccard" | "containment"
    similarity: float | None = None
    relation: str | None = None  # "copy" | "revision" | "update" | "excerpt" (see relation_of)


KEEP = Decision("keep")


def verify(a: set[bytes], b: set[bytes], cfg: DedupConfig) -> tuple[str, float] | None:
    """The measure and score that make ``a`` and ``b`` duplicates, or None.

    Similar wording is not enough: wire services file the same template every day
    ("the Fed added 1.5 billion dlrs of reserves", "39 ships waiting at the canal"),
    and those are distinct stories. So when ``cfg.figures_must_agree`` holds, a pair
    whose figures were changed (see :func:`figures_agree`) is not a duplicate: a
    truncated or updated version keeps its figures, a new day's report changes them.
    """
    j = jaccard(a, b)
    verdict = None
    if j >= cfg.threshold:
        verdict = ("jaccard", j)
    elif min(len(a), len(b)) >= cfg.min_containment_shingles:
        c = containment(a, b)
        if c >= cfg.containment:
            verdict = ("containment", c)
    if verdict and cfg.figures_must_agree and not figures_agree(a, b):
        return None
    return verdict


def relation_of(new: set[bytes], kept: set[bytes], cfg: DedupConfig) -> str:
    """How a dropped near duplicate relates to the kept story, for people and policies.

    ``update``: a fuller version that contains the kept story (an updated wire
    story); ``excerpt``: a shorter version contained in it (a truncated one);
    ``revision``: the same length give or take, with edits.
    """
    if containment(new, kept) >= cfg.containment and len(new) != len(kept):
        return "update" if len(new) > len(kept) else "excerpt"
    return "revision"


def _figures(shingle_set: set[bytes]) -> set[bytes]:
    return {tok for sh in shingle_set for tok in sh.split(b" ") if any(48 <= c <= 57 for c in tok)}


def figures_agree(a: set[bytes], b: set[bytes]) -> bool:
    """No figure was *changed*: the texts do not each hold a number the other lacks.

    One-sided extra figures are fine (an update adds a paragraph with new numbers,
    an editor writes "11" for "eleven"); a figure on both sides that differs
    ("1.5 billion" vs "2.5 billion", "April 10" vs "April 30") makes two reports.
    Symmetric, so the decision does not depend on which copy arrived first.
    """
    fa, fb = _figures(a), _figures(b)
    return not (fa - fb and fb - fa)


def match_batch(items: Sequence[PreparedArticle], index: WarehouseIndex, cfg: DedupConfig) -> list[Decision]:
    """One decision per item, in order; reads the warehouse in three bulk queries."""
    stored_by_hash = index.ids_by_hash({it.article.content_hash for it in items})
    all_keys = {int(k) for it in items for k in it.band_keys}
    stored_buckets = index.candidates(all_keys) if all_keys else {}
    stored_candidate_ids = {aid for ids in stored_buckets.values() for aid in ids}
    stored_shingles: dict[int, set[bytes]] = {}
    if stored_candidate_ids:
        texts = index.dedup_texts(stored_candidate_ids)
        stored_shingles = {aid: shingles(t, cfg.shingle_size) for aid, t in texts.items()}

    batch_by_hash: dict[str, int] = {}
    batch_buckets: dict[int, list[int]] = defaultdict(list)
    decisions: list[Decision] = []
    for i, item in enumerate(items):
        h = item.article.content_hash
        if h in stored_by_hash:
            decisions.append(Decision("exact", KeptRef(article_id=stored_by_hash[h]), "hash", 1.0, "copy"))
            continue
        if h in batch_by_hash:
            decisions.append(Decision("exact", KeptRef(batch_index=batch_by_hash[h]), "hash", 1.0, "copy"))
            continue
        keys = [int(k) for k in item.band_keys]
        # (score, ref, measure, kept shingles); ties go to the earliest candidate
        best: tuple[float, KeptRef, str, set[bytes]] | None = None
        for aid in sorted({aid for k in keys for aid in stored_buckets.get(k, ())}):
            theirs = stored_shingles.get(aid, set())
            verdict = verify(item.shingles(cfg), theirs, cfg)
            if verdict and (best is None or verdict[1] > best[0]):
                best = (verdict[1], KeptRef(article_id=aid), verdict[0], theirs)
        for j in sorted({j for k in keys for j in batch_buckets.get(k, ())}):
            theirs = items[j].shingles(cfg)
            verdict = verify(item.shingles(cfg), theirs, cfg)
            if verdict and (best is None or verdict[1] > best[0]):
                best = (verdict[1], KeptRef(batch_index=j), verdict[0], theirs)
        if best is not None:
            relation = relation_of(item.shingles(cfg), best[3], cfg)
            decisions.append(Decision("near", best[1], best[2], round(best[0], 4), relation))
            continue
        decisions.append(KEEP)
        batch_by_hash[h] = i
        for k in keys:
            batch_buckets[k].append(i)
    return decisions
