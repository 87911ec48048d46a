"""The matcher as it decided before verification moved to precomputed features: the reference.

A frozen copy (string shingle sets, figures re-read from the shingles on every
pair) kept only so tests can check that the production matcher takes exactly the
same decisions on the same inputs. Do not import it from ``etl``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from etl.config import DedupConfig
from etl.dedup.matcher import Decision, KeptRef, PreparedArticle, WarehouseIndex
from etl.text import words


@dataclass(frozen=True, slots=True)
class TextFeatures:
    tokens: list[str]
    shingles: set[bytes]


def features(text: str, size: int) -> TextFeatures:
    tokens = words(text)
    return TextFeatures(tokens, shingles_of(tokens, size))


def shingles_of(tokens: list[str], size: int) -> set[bytes]:
    if not tokens:
        return set()
    if len(tokens) <= size:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(tokens[i : i + size]).encode("utf-8") for i in range(len(tokens) - size + 1)}


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def containment(a: set[bytes], b: set[bytes]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small)


def word_similarity(a: list[str], b: list[str], cutoff: float = 0.0) -> float:
    if not a or not b:
        return 0.0
    return Indel.normalized_similarity(a, b, score_cutoff=cutoff)


_CACHE: dict[tuple[str, int], TextFeatures] = {}


def old(item: PreparedArticle, cfg: DedupConfig) -> TextFeatures:
    """Old-style features of a prepared item, computed once per text."""
    key = (item.article.dedup_text, cfg.shingle_size)
    if key not in _CACHE:
        _CACHE[key] = features(*key)
    return _CACHE[key]


KEEP = Decision("keep")
_EMPTY = TextFeatures([], set())


def verify(a: TextFeatures, b: TextFeatures, cfg: DedupConfig) -> tuple[str, float] | None:
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
    """
    j = jaccard(a.shingles, b.shingles)
    verdict = None
    if j >= cfg.threshold:
        verdict = ("jaccard", j)
    if verdict is None and min(len(a.shingles), len(b.shingles)) >= cfg.min_containment_shingles:
        c = containment(a.shingles, b.shingles)
        if c >= cfg.containment:
            verdict = ("containment", c)
    if verdict is None and _edit_possible(len(a.tokens), len(b.tokens), cfg):
        s = word_similarity(a.tokens, b.tokens, cfg.edit_similarity)
        if s >= cfg.edit_similarity:
            verdict = ("edit", s)
    if verdict and cfg.figures_must_agree and not figures_agree(a.shingles, b.shingles):
        return None
    return verdict


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
    n, k = new.shingles, kept.shingles
    if containment(n, k) >= cfg.containment and len(n) != len(k):
        return "update" if len(n) > len(k) else "excerpt"
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


def _preference(cfg: DedupConfig, item: PreparedArticle) -> float:
    """Larger is preferred by the keep policy (first_seen has no preference)."""
    if cfg.policy == "longest":
        return float(len(old(item, cfg).shingles))
    if cfg.policy == "latest":
        ts = item.article.published_at
        return ts.timestamp() if ts else float("-inf")
    return 0.0


def _stored_preference(cfg: DedupConfig, aid: int, stored: dict, published: dict) -> float:
    if cfg.policy == "longest":
        return float(len(stored[aid].shingles)) if aid in stored else 0.0
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
    stored_by_hash = index.ids_by_hash({it.article.content_hash for it in items})
    all_keys = {int(k) for it in items for k in it.band_keys}
    stored_buckets = index.candidates(all_keys) if all_keys else {}
    stored_candidate_ids = {aid for ids in stored_buckets.values() for aid in ids}
    stored: dict[int, TextFeatures] = {}
    if stored_candidate_ids:
        texts = index.dedup_texts(stored_candidate_ids)
        stored = {aid: features(t, cfg.shingle_size) for aid, t in texts.items()}
    ranked = cfg.policy != "first_seen"
    published: dict = {}
    if cfg.policy == "latest":
        published = index.published(stored_candidate_ids | set(stored_by_hash.values()))
    if cfg.policy == "longest":
        missing = set(stored_by_hash.values()) - set(stored)
        if missing:
            extra = index.dedup_texts(missing)
            stored.update({aid: features(t, cfg.shingle_size) for aid, t in extra.items()})

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
            old_to_new = "copy" if measure == "hash" else relation_of(theirs, old(item, cfg), cfg)
            action = "replace"
            for k in item.band_keys:
                batch_buckets[int(k)].append(i)
            batch_by_hash[item.article.content_hash] = i
            return Decision(action, KeptRef(article_id=aid), measure, score, old_to_new)
        action = "exact" if measure == "hash" else "near"
        relation = "copy" if measure == "hash" else relation_of(old(item, cfg), theirs, cfg)
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
        keys = [int(k) for k in item.band_keys]
        # (score, ref, measure, kept features); ties go to the earliest candidate
        best: tuple[float, KeptRef, str, TextFeatures] | None = None
        for j in sorted({j for k in keys for j in batch_buckets.get(k, ())}):
            theirs = old(items[j], cfg)
            verdict = verify(old(item, cfg), theirs, cfg)
            if verdict and (best is None or verdict[1] > best[0]):
                best = (verdict[1], KeptRef(batch_index=j), verdict[0], theirs)
        for aid in sorted({aid for k in keys for aid in stored_buckets.get(k, ())}):
            if aid in replaced:
                continue  # its new content is a batch record, matched above
            theirs = stored.get(aid, _EMPTY)
            verdict = verify(old(item, cfg), theirs, cfg)
            if verdict and (best is None or verdict[1] > best[0]):
                best = (verdict[1], KeptRef(article_id=aid), verdict[0], theirs)
        if best is not None:
            score, ref, measure, theirs = best
            if ref.article_id is not None:
                decisions[i] = stored_match(i, ref.article_id, measure, round(score, 4), theirs)
            else:
                relation = relation_of(old(item, cfg), theirs, cfg)
                decisions[i] = Decision("near", ref, measure, round(score, 4), relation)
            continue
        decisions[i] = KEEP
        batch_by_hash[h] = i
        for k in keys:
            batch_buckets[k].append(i)
    return decisions  # type: ignore[return-value]
