"""Deciding, for a batch, which articles are kept and which duplicate an earlier one.

Policy: first seen wins. The warehouse is earlier than any batch; within a
batch, lower ordinal is earlier. A record is an *exact* duplicate when its
``content_hash`` equals a kept article's, and a *near* duplicate when an LSH
candidate passes verification on the exact texts (see :func:`verify`): 5-gram
Jaccard at least ``threshold`` (a copy), containment at least ``containment``
(a truncated or updated wire version), or word-sequence similarity at least
``edit_similarity`` (a revision with a few words changed), weighed with the
headline, the time and re-issue markers (etl.dedup.rules). LSH only proposes;
verification decides, so a bucket collision can never drop a distinct article.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from etl.config import DedupConfig
from etl.dedup.evidence import Context, TextEvidence, context_of, text_evidence
from etl.dedup.features import (
    EMPTY,
    TextFeatures,
    features_of_batch,
    shared_shingles,
    shared_shingles_many,
    text_features,
)
from etl.dedup.rules import Pair, judge, texts_only
from etl.dedup.stored import StoredHead
from etl.records import Article
from etl.text import words


@dataclass(slots=True)
class PreparedArticle:
    """An article with its MinHash signature, index keys, verification features and text evidence.

    All are computed in the prepare stage (worker processes, outside any lock);
    ``features`` and ``evidence`` are filled on first use when a caller built
    the item without them.
    """

    article: Article
    signature: np.ndarray
    band_keys: np.ndarray
    text: TextFeatures | None = field(default=None, repr=False)
    text_evidence: TextEvidence | None = field(default=None, repr=False)
    context: Context | None = field(default=None, repr=False)

    def features(self, cfg: DedupConfig) -> TextFeatures:
        if self.text is None:
            self.text = text_features(self.article.dedup_text, cfg.shingle_size)
        return self.text

    def evidence(self) -> Context:
        if self.context is None:
            if self.text_evidence is None:
                self.text_evidence = text_evidence(self.article.dedup_text)
            self.context = context_of(self.article.title, self.article.published_at, self.text_evidence)
        return self.context


@dataclass(frozen=True, slots=True)
class Compared:
    """One side of a comparison: text features and evidence."""

    text: TextFeatures
    context: Context


class WarehouseIndex(Protocol):
    """What the matcher needs from the stored history (see etl.warehouse.index)."""

    def ids_by_hash(self, hashes: Collection[str]) -> dict[str, int]: ...

    def candidate_pairs(self, band_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def heads(self, ids: Collection[int]) -> dict[int, StoredHead]: ...

    def dedup_texts(self, ids: Collection[int]) -> dict[int, str]: ...

    def published(self, ids: Collection[int]) -> dict[int, object]: ...


@dataclass(frozen=True, slots=True)
class KeptRef:
    """Reference to the kept copy: a stored article id, or a batch position."""

    article_id: int | None = None
    batch_index: int | None = None


class Action(enum.StrEnum):
    """What becomes of a record. ``exact`` and ``near`` are also the ``duplicates.method`` values."""

    KEEP = "keep"
    EXACT = "exact"
    NEAR = "near"
    REPLACE = "replace"  # takes the place of a stored copy, which becomes its duplicate (see match_batch)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    kept: KeptRef | None = None
    measure: str | None = None  # "hash" | "jaccard" | "containment" | "edit"
    similarity: float | None = None
    relation: str | None = None  # "copy" | "revision" | "update" | "excerpt" (see relation_of)


KEEP = Decision(Action.KEEP)


def verify(
    a: TextFeatures, b: TextFeatures, cfg: DedupConfig, shared: int | None = None
) -> tuple[str, float] | None:
    """The measure and score that make two *texts* duplicates, or None (no headline, no time).

    Three ways to be the same text: resemblance (``jaccard``), a shorter version
    inside a longer one (``containment``), or the same words in the same order
    give or take a few (``edit``), and no figure word changed (``figures_must_agree``,
    see :func:`etl.dedup.rules.figures_agree`). The matcher weighs more than the
    texts: see :func:`verify_stories`.
    """
    if shared is None:
        shared = shared_shingles(a, b)
    return texts_only(Pair(a, b, None, None, shared, cfg))  # type: ignore[arg-type]


def verify_stories(
    a: Compared, b: Compared, cfg: DedupConfig, shared: int | None = None
) -> tuple[str, float] | None:
    """The measure and score that make two stories one report, or None: :func:`etl.dedup.rules.judge`."""
    if shared is None:
        shared = shared_shingles(a.text, b.text)
    return judge(Pair(a.text, b.text, a.context, b.context, shared, cfg))


def verify_many(
    a: Compared, others: Sequence[Compared], cfg: DedupConfig
) -> list[tuple[tuple[str, float] | None, int]]:
    """``verify_stories(a, o, cfg)`` for each of ``others``, with the shared shingle count it used.

    The overlaps are counted in bulk; the count comes back so that the relation of
    a match (etl.dedup.matcher.relation_of) need not count it again.
    """
    shared = shared_shingles_many(a.text, [o.text for o in others]).tolist()
    return [(verify_stories(a, b, cfg, n), n) for b, n in zip(others, shared, strict=True)]


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


def relation_of(new: TextFeatures, kept: TextFeatures, cfg: DedupConfig, shared: int | None = None) -> str:
    """How a dropped near duplicate relates to the kept story, for people and policies.

    ``update``: a fuller version that contains the kept story (an updated wire
    story); ``excerpt``: a shorter version contained in it (a truncated one);
    ``revision``: the same length give or take, with edits.
    """
    n, k = new.shingle_count, kept.shingle_count
    if containment(new, kept, shared) >= cfg.containment and n != k:
        return "update" if n > k else "excerpt"
    return "revision"


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
        return float(stored[aid].text.shingle_count) if aid in stored else 0.0
    ts = published.get(aid)
    return ts.timestamp() if ts else float("-inf")


# Lexical measures outrank the headline rules when one record matches several kept ones.
_RANK = {"jaccard": 1, "containment": 1, "edit": 1, "headline": 0, "correction": 0}


def match_batch(items: Sequence[PreparedArticle], index: WarehouseIndex, cfg: DedupConfig) -> list[Decision]:
    """One decision per item (in item order); reads the warehouse in a few bulk queries.

    Policy ``first_seen`` keeps the earliest: the warehouse, then batch order.
    ``longest`` and ``latest`` process the batch from the most preferred record
    down (ties by content hash), so the outcome does not depend on arrival order,
    and a record preferred over a stored copy *replaces* it (decision ``replace``:
    the stored row takes the new content, the old one becomes its duplicate).
    Under every policy a correction (a CORRECTED headline or a "(corrects ...)"
    note) wins over the version it corrects: it goes first within the batch, and
    replaces a stored uncorrected version.
    """
    for it in items:
        RECENT.put(it.article.content_hash, cfg.shingle_size, (it.features(cfg), it.evidence().text))
    RECENT.hold(8 * len(items))
    stored_by_hash = index.ids_by_hash({it.article.content_hash for it in items})
    stored_candidates = _stored_candidates(index, items)
    stored_candidate_ids = {aid for ids in stored_candidates for aid in ids}
    wanted = stored_candidate_ids | set(stored_by_hash.values())
    stored = _stored_stories(index, wanted, cfg) if wanted else {}
    ranked = cfg.policy != "first_seen"
    published: dict = {}
    if cfg.policy == "latest":
        published = index.published(stored_candidate_ids | set(stored_by_hash.values()))

    order = list(range(len(items)))
    if ranked:
        order.sort(
            key=lambda i: (
                not items[i].evidence().correction,
                -_preference(cfg, items[i]),
                items[i].article.content_hash,
                i,
            )
        )
    else:
        order.sort(key=lambda i: (not items[i].evidence().correction, i))
    batch_by_hash: dict[str, int] = {}
    batch_buckets: dict[int, list[int]] = defaultdict(list)
    replaced: set[int] = set()
    decisions: list[Decision | None] = [None] * len(items)

    def compared(i: int) -> Compared:
        return Compared(items[i].features(cfg), items[i].evidence())

    def wins_over_stored(i: int, aid: int) -> bool:
        """A correction replaces the uncorrected stored version; otherwise the policy decides."""
        theirs = stored.get(aid)
        if items[i].evidence().correction and theirs is not None and not theirs.context.correction:
            return True
        return ranked and _preference(cfg, items[i]) > _stored_preference(cfg, aid, stored, published)

    def stored_match(
        i: int, aid: int, measure: str, score: float, theirs: Compared, shared: int | None = None
    ) -> Decision:
        item = items[i]
        if aid not in replaced and wins_over_stored(i, aid):
            replaced.add(aid)
            old_to_new = (
                "copy" if measure == "hash" else relation_of(theirs.text, item.features(cfg), cfg, shared)
            )
            for k in item.band_keys.tolist():
                batch_buckets[k].append(i)
            batch_by_hash[item.article.content_hash] = i
            return Decision(Action.REPLACE, KeptRef(article_id=aid), measure, score, old_to_new)
        action = Action.EXACT if measure == "hash" else Action.NEAR
        relation = "copy" if measure == "hash" else relation_of(item.features(cfg), theirs.text, cfg, shared)
        return Decision(action, KeptRef(article_id=aid), measure, score, relation)

    def same_report(i: int, theirs: Compared) -> bool:
        """Equal texts are one report unless the context says otherwise (another company, another day)."""
        if not cfg.context_rules:
            return True
        mine = compared(i)
        return (
            judge(Pair(mine.text, theirs.text, mine.context, theirs.context, mine.text.shingle_count, cfg))
            is not None
        )

    for i in order:
        item = items[i]
        h = item.article.content_hash
        j = batch_by_hash.get(h)
        if j is not None and same_report(i, compared(j)):
            decisions[i] = Decision(Action.EXACT, KeptRef(batch_index=j), "hash", 1.0, "copy")
            continue
        aid = stored_by_hash.get(h)
        if aid is not None and same_report(i, stored.get(aid, _NOTHING)):
            decisions[i] = stored_match(i, aid, "hash", 1.0, stored.get(aid, _NOTHING))
            continue
        keys = item.band_keys.tolist()
        refs = [KeptRef(batch_index=j) for j in sorted({j for k in keys for j in batch_buckets.get(k, ())})]
        refs += [
            KeptRef(article_id=aid)
            for aid in stored_candidates[i]
            if aid not in replaced  # a replaced row's new content is a batch record, matched above
        ]
        # (rank, score, ref, measure, kept side, shared shingles); ties go to the earliest candidate
        best: tuple[int, float, KeptRef, str, Compared, int] | None = None
        if refs:
            kept = [
                compared(r.batch_index) if r.article_id is None else stored.get(r.article_id, _NOTHING)
                for r in refs
            ]
            verdicts = verify_many(compared(i), kept, cfg)
            for ref, theirs, (verdict, shared) in zip(refs, kept, verdicts, strict=True):
                if verdict and (best is None or (_RANK[verdict[0]], verdict[1]) > best[:2]):
                    best = (_RANK[verdict[0]], verdict[1], ref, verdict[0], theirs, shared)
        if best is not None:
            _, score, ref, measure, theirs, shared = best
            if ref.article_id is not None:
                decisions[i] = stored_match(i, ref.article_id, measure, round(score, 4), theirs, shared)
            else:
                relation = relation_of(item.features(cfg), theirs.text, cfg, shared)
                decisions[i] = Decision(Action.NEAR, ref, measure, round(score, 4), relation)
            continue
        decisions[i] = KEEP
        batch_by_hash[h] = i
        for k in keys:
            batch_buckets[k].append(i)
    return decisions  # type: ignore[return-value]


def _stored_candidates(index: WarehouseIndex, items: Sequence[PreparedArticle]) -> list[list[int]]:
    """For each item, the sorted ids of stored articles sharing one of its band keys.

    One lookup for the batch's keys; the (key, id) pairs are matched back to the
    items with sorted arrays rather than a dictionary of lists per key.
    """
    if not items:
        return []
    counts = np.fromiter((len(it.band_keys) for it in items), dtype=np.int64, count=len(items))
    item_keys = np.concatenate([it.band_keys for it in items]).astype(np.int64)
    keys, ids = index.candidate_pairs(item_keys)
    if not keys.shape[0]:
        return [[] for _ in items]
    order = np.argsort(keys, kind="stable")
    keys, ids = keys[order], ids[order]
    lo = np.searchsorted(keys, item_keys, side="left")
    spans = np.searchsorted(keys, item_keys, side="right") - lo
    owner = np.repeat(np.repeat(np.arange(len(items)), counts), spans)
    first = np.repeat(lo - (np.cumsum(spans) - spans), spans)  # per hit: its row in (keys, ids)
    hit = ids[first + np.arange(owner.shape[0])]
    pairs = np.lexsort((hit, owner))
    owner, hit = owner[pairs], hit[pairs]
    fresh = np.ones(owner.shape[0], dtype=bool)
    fresh[1:] = (owner[1:] != owner[:-1]) | (hit[1:] != hit[:-1])
    owner, hit = owner[fresh], hit[fresh]
    bounds = np.searchsorted(owner, np.arange(len(items) + 1)).tolist()
    flat = hit.tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(items))]


_NOTHING = Compared(EMPTY, context_of("", None, text_evidence("")))


def _stored_stories(index: WarehouseIndex, ids: Collection[int], cfg: DedupConfig) -> dict[int, Compared]:
    """Features and evidence of stored candidates, fetched and computed once per batch.

    The text's part comes from :data:`RECENT` by content hash when the prepare
    stage computed it for a recent batch, else from the stored body; headline
    and time come with the hash in one query.
    """
    heads = index.heads(ids)
    out: dict[int, Compared] = {}
    missing = []
    for aid, head in heads.items():
        found = RECENT.get(head.content_hash, cfg.shingle_size)
        if found is None:
            missing.append(aid)
        else:
            out[aid] = Compared(found[0], context_of(head.title, head.published_at, found[1]))
    if missing:
        texts = index.dedup_texts(missing)
        computed = features_of_batch([words(t) for t in texts.values()], cfg.shingle_size)
        for (aid, text), feats in zip(texts.items(), computed, strict=True):
            evidence = text_evidence(text)
            head = heads[aid]
            out[aid] = Compared(feats, context_of(head.title, head.published_at, evidence))
            RECENT.put(head.content_hash, cfg.shingle_size, (feats, evidence))
    return out


class FeatureCache:
    """Features and evidence of recently seen texts, by content hash: candidates are mostly recent.

    A near duplicate usually follows its story within hours, so the stored
    candidates of a batch are mostly articles of the last few batches, whose
    features the prepare stage already computed. Features are a function of the
    normalised dedup text alone, which the content hash identifies, so an entry
    never goes stale (not even when a stored row is replaced: its hash changes).
    Least recently used entries go first; the capacity follows the batch size.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int], tuple[TextFeatures, TextEvidence]] = OrderedDict()

    def hold(self, capacity: int) -> None:
        """Keep at least ``capacity`` entries (the loader passes a few batches' worth)."""
        self.capacity = max(self.capacity, capacity)

    def get(self, content_hash: str, shingle_size: int) -> tuple[TextFeatures, TextEvidence] | None:
        key = (content_hash, shingle_size)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, content_hash: str, shingle_size: int, features: tuple[TextFeatures, TextEvidence]) -> None:
        key = (content_hash, shingle_size)
        self._entries[key] = features
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


RECENT = FeatureCache(4096)
