"""Deciding, for a batch, which articles are kept and which duplicate an earlier one.

Policy: first seen wins. The warehouse is earlier than any batch; within a
batch, lower ordinal is earlier. A record is an *exact* duplicate when its
``content_hash`` equals a kept article's, and a *near* duplicate when an LSH
candidate passes verification on the exact texts (see :func:`verify`): 5-gram
Jaccard at least ``threshold`` (a copy), containment at least ``containment``
(a truncated or updated wire version), or word-sequence similarity at least
``edit_similarity`` (a revision with a few words changed). LSH only proposes;
verification decides, so a bucket collision can never drop a distinct article.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from etl.config import DedupConfig
from etl.dedup.features import (
    EMPTY,
    TextFeatures,
    features_of_batch,
    shared_shingles,
    shared_shingles_many,
    text_features,
)
from etl.dedup.shingles import word_similarity
from etl.records import Article
from etl.text import words


@dataclass(slots=True)
class PreparedArticle:
    """An article with its MinHash signature, band keys and verification features.

    All three are computed in the prepare stage (worker processes, outside any
    lock); ``features`` is filled on first use when a caller built the item
    without them.
    """

    article: Article
    signature: np.ndarray
    band_keys: np.ndarray
    text: TextFeatures | None = field(default=None, repr=False)

    def features(self, cfg: DedupConfig) -> TextFeatures:
        if self.text is None:
            self.text = text_features(self.article.dedup_text, cfg.shingle_size)
        return self.text


class WarehouseIndex(Protocol):
    """What the matcher needs from the stored history (see etl.warehouse.index)."""

    def ids_by_hash(self, hashes: Collection[str]) -> dict[str, int]: ...

    def candidates(self, band_keys: Collection[int]) -> dict[int, list[int]]: ...

    def content_hashes(self, ids: Collection[int]) -> dict[int, str]: ...

    def dedup_texts(self, ids: Collection[int]) -> dict[int, str]: ...

    def published(self, ids: Collection[int]) -> dict[int, object]: ...


@dataclass(frozen=True, slots=True)
class KeptRef:
    """Reference to the kept copy: a stored article id, or a batch position."""

    article_id: int | None = None
    batch_index: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "keep" | "exact" | "near" | "replace" (replaces a stored copy, see match_batch)
    kept: KeptRef | None = None
    measure: str | None = None  # "hash" | "jaccard" | "containment" | "edit"
    similarity: float | None = None
    relation: str | None = None  # "copy" | "revision" | "update" | "excerpt" (see relation_of)


KEEP = Decision("keep")
_EMPTY = EMPTY


def verify(
    a: TextFeatures, b: TextFeatures, cfg: DedupConfig, shared: int | None = None
) -> tuple[str, float] | None:
    """The measure and score that make ``a`` and ``b`` duplicates, or None.

    Three ways to be the same story: resemblance (``jaccard``), a shorter version
    inside a longer one (``containment``), or the same words in the same order
    give or take a few (``edit``). The last one is for rewrites and corrections:
    each replaced word breaks ``shingle_size`` shingles, so a 100-word wire story
    with four words changed falls to 5-gram Jaccard ~0.7 while 96 % of its words
    still line up. It needs ``min_edit_words`` words on the shorter side, because
    one changed word in a ten-word text is a different sentence.

    Similar wording is not enough: wire services file the same template every day
    ("the Fed added 1.5 billion dlrs of reserves", "39 ships waiting at the canal"),
    and those are distinct stories. So when ``cfg.figures_must_agree`` holds, a pair
    whose figures were changed (see :func:`figures_agree`) is not a duplicate: a
    truncated or updated version keeps its figures, a new day's report changes them.

    ``shared`` is the number of shingles the texts have in common when the caller
    already counted it (:func:`verify_many` counts a whole candidate list at once).
    """
    if shared is None:
        shared = shared_shingles(a, b)
    j = jaccard(a, b, shared)
    verdict = None
    if j >= cfg.threshold:
        verdict = ("jaccard", j)
    if verdict is None and min(a.shingle_count, b.shingle_count) >= cfg.min_containment_shingles:
        c = containment(a, b, shared)
        if c >= cfg.containment:
            verdict = ("containment", c)
    if verdict is None and _edit_possible(a.word_count, b.word_count, cfg):
        s = word_similarity(a.tokens.tolist(), b.tokens.tolist(), cfg.edit_similarity)
        if s >= cfg.edit_similarity:
            verdict = ("edit", s)
    if verdict and cfg.figures_must_agree and not figures_agree(a.figures, b.figures):
        return None
    return verdict


def verify_many(
    a: TextFeatures, others: Sequence[TextFeatures], cfg: DedupConfig
) -> list[tuple[str, float] | None]:
    """``verify(a, o, cfg)`` for each of ``others``: the shingle overlaps are counted in bulk."""
    shared = shared_shingles_many(a, others)
    return [verify(a, b, cfg, int(n)) for b, n in zip(others, shared, strict=True)]


def jaccard(a: TextFeatures, b: TextFeatures, shared: int | None = None) -> float:
    """Shingle-set resemblance: shared over union."""
    if not a.shingle_count or not b.shingle_count:
        return 0.0
    inter = shared_shingles(a, b) if shared is None else shared
    return inter / (a.shingle_count + b.shingle_count - inter)


def containment(a: TextFeatures, b: TextFeatures, shared: int | None = None) -> float:
    """Share of the smaller shingle set found in the larger one (a truncated story in its full version)."""
    if not a.shingle_count or not b.shingle_count:
        return 0.0
    inter = shared_shingles(a, b) if shared is None else shared
    return inter / min(a.shingle_count, b.shingle_count)


def _edit_possible(len_a: int, len_b: int, cfg: DedupConfig) -> bool:
    """Whether the lengths allow ``edit_similarity``: LCS is at most the shorter text."""
    shorter = min(len_a, len_b)
    return shorter >= cfg.min_edit_words and 2 * shorter >= cfg.edit_similarity * (len_a + len_b)


def relation_of(new: TextFeatures, kept: TextFeatures, cfg: DedupConfig) -> str:
    """How a dropped near duplicate relates to the kept story, for people and policies.

    ``update``: a fuller version that contains the kept story (an updated wire
    story); ``excerpt``: a shorter version contained in it (a truncated one);
    ``revision``: the same length give or take, with edits.
    """
    n, k = new.shingle_count, kept.shingle_count
    if containment(new, kept) >= cfg.containment and n != k:
        return "update" if n > k else "excerpt"
    return "revision"


def figures_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """No figure was *changed*: the texts do not each hold a number the other lacks.

    One-sided extra figures are fine (an update adds a paragraph with new numbers,
    an editor writes "11" for "eleven"); a figure on both sides that differs
    ("1.5 billion" vs "2.5 billion", "April 10" vs "April 30") makes two reports.
    Symmetric, so the decision does not depend on which copy arrived first.
    """
    return not (a - b and b - a)


def _preference(cfg: DedupConfig, item: PreparedArticle) -> float:
    """Larger is preferred by the keep policy (first_seen has no preference)."""
    if cfg.policy == "longest":
        return float(item.features(cfg).shingle_count)
    if cfg.policy == "latest":
        ts = item.article.published_at
        return ts.timestamp() if ts else float("-inf")
    return 0.0


def _stored_preference(cfg: DedupConfig, aid: int, stored: dict, published: dict) -> float:
    if cfg.policy == "longest":
        return float(stored[aid].shingle_count) if aid in stored else 0.0
    ts = published.get(aid)
    return ts.timestamp() if ts else float("-inf")


def match_batch(items: Sequence[PreparedArticle], index: WarehouseIndex, cfg: DedupConfig) -> list[Decision]:
    """One decision per item (in item order); reads the warehouse in a few bulk queries.

    Policy ``first_seen`` keeps the earliest: the warehouse, then batch order.
    ``longest`` and ``latest`` process the batch from the most preferred record
    down (ties by content hash), so the outcome does not depend on arrival order,
    and a record preferred over a stored copy *replaces* it (decision ``replace``:
    the stored row takes the new content, the old one becomes its duplicate).
    """
    for it in items:
        RECENT.put(it.article.content_hash, cfg.shingle_size, it.features(cfg))
    RECENT.hold(8 * len(items))
    stored_by_hash = index.ids_by_hash({it.article.content_hash for it in items})
    all_keys = set(np.concatenate([it.band_keys for it in items]).tolist()) if items else set()
    stored_buckets = index.candidates(all_keys) if all_keys else {}
    stored_candidate_ids = {aid for ids in stored_buckets.values() for aid in ids}
    stored: dict[int, TextFeatures] = {}
    if stored_candidate_ids:
        stored = _stored_features(index, stored_candidate_ids, cfg)
    ranked = cfg.policy != "first_seen"
    published: dict = {}
    if cfg.policy == "latest":
        published = index.published(stored_candidate_ids | set(stored_by_hash.values()))
    if cfg.policy == "longest":
        missing = set(stored_by_hash.values()) - set(stored)
        if missing:
            stored.update(_stored_features(index, missing, cfg))

    order = list(range(len(items)))
    if ranked:
        order.sort(key=lambda i: (-_preference(cfg, items[i]), items[i].article.content_hash, i))
    batch_by_hash: dict[str, int] = {}
    batch_buckets: dict[int, list[int]] = defaultdict(list)
    replaced: set[int] = set()
    decisions: list[Decision | None] = [None] * len(items)

    def stored_match(i: int, aid: int, measure: str, score: float, theirs: TextFeatures) -> Decision:
        item = items[i]
        if (
            ranked
            and aid not in replaced
            and _preference(cfg, item) > _stored_preference(cfg, aid, stored, published)
        ):
            replaced.add(aid)
            old_to_new = "copy" if measure == "hash" else relation_of(theirs, item.features(cfg), cfg)
            action = "replace"
            for k in item.band_keys.tolist():
                batch_buckets[k].append(i)
            batch_by_hash[item.article.content_hash] = i
            return Decision(action, KeptRef(article_id=aid), measure, score, old_to_new)
        action = "exact" if measure == "hash" else "near"
        relation = "copy" if measure == "hash" else relation_of(item.features(cfg), theirs, cfg)
        return Decision(action, KeptRef(article_id=aid), measure, score, relation)

    for i in order:
        item = items[i]
        h = item.article.content_hash
        if h in batch_by_hash:
            decisions[i] = Decision("exact", KeptRef(batch_index=batch_by_hash[h]), "hash", 1.0, "copy")
            continue
        if h in stored_by_hash:
            aid = stored_by_hash[h]
            decisions[i] = stored_match(i, aid, "hash", 1.0, stored.get(aid, _EMPTY))
            continue
        keys = item.band_keys.tolist()
        # (score, ref, measure, kept features); ties go to the earliest candidate
        best: tuple[float, KeptRef, str, TextFeatures] | None = None
        refs = [KeptRef(batch_index=j) for j in sorted({j for k in keys for j in batch_buckets.get(k, ())})]
        refs += [
            KeptRef(article_id=aid)
            for aid in sorted({aid for k in keys for aid in stored_buckets.get(k, ())})
            if aid not in replaced  # a replaced row's new content is a batch record, matched above
        ]
        if refs:
            kept = [
                items[r.batch_index].features(cfg)
                if r.article_id is None
                else stored.get(r.article_id, _EMPTY)
                for r in refs
            ]
            for ref, theirs, verdict in zip(
                refs, kept, verify_many(item.features(cfg), kept, cfg), strict=True
            ):
                if verdict and (best is None or verdict[1] > best[0]):
                    best = (verdict[1], ref, verdict[0], theirs)
        if best is not None:
            score, ref, measure, theirs = best
            if ref.article_id is not None:
                decisions[i] = stored_match(i, ref.article_id, measure, round(score, 4), theirs)
            else:
                relation = relation_of(item.features(cfg), theirs, cfg)
                decisions[i] = Decision("near", ref, measure, round(score, 4), relation)
            continue
        decisions[i] = KEEP
        batch_by_hash[h] = i
        for k in keys:
            batch_buckets[k].append(i)
    return decisions  # type: ignore[return-value]


def _stored_features(
    index: WarehouseIndex, ids: Collection[int], cfg: DedupConfig
) -> dict[int, TextFeatures]:
    """Features of stored candidates: from :data:`RECENT` by content hash, else fetched and computed."""
    hashes = index.content_hashes(ids)
    out: dict[int, TextFeatures] = {}
    missing = []
    for aid, h in hashes.items():
        found = RECENT.get(h, cfg.shingle_size)
        if found is None:
            missing.append(aid)
        else:
            out[aid] = found
    if missing:
        texts = index.dedup_texts(missing)
        computed = features_of_batch([words(t) for t in texts.values()], cfg.shingle_size)
        for aid, feats in zip(texts, computed, strict=True):
            out[aid] = feats
            RECENT.put(hashes[aid], cfg.shingle_size, feats)
    return out


class FeatureCache:
    """Features of recently seen texts, by content hash: stored candidates are mostly recent stories.

    A near duplicate usually follows its story within hours, so the stored
    candidates of a batch are mostly articles of the last few batches, whose
    features the prepare stage already computed. Features are a function of the
    normalised dedup text alone, which the content hash identifies, so an entry
    never goes stale (not even when a stored row is replaced: its hash changes).
    Least recently used entries go first; the capacity follows the batch size.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int], TextFeatures] = OrderedDict()

    def hold(self, capacity: int) -> None:
        """Keep at least ``capacity`` entries (the loader passes a few batches' worth)."""
        self.capacity = max(self.capacity, capacity)

    def get(self, content_hash: str, shingle_size: int) -> TextFeatures | None:
        key = (content_hash, shingle_size)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, content_hash: str, shingle_size: int, features: TextFeatures) -> None:
        key = (content_hash, shingle_size)
        self._entries[key] = features
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


RECENT = FeatureCache(4096)
