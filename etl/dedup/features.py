"""What verification compares, computed once per text where the CPU is cheap (the prepare workers).

A :class:`TextFeatures` holds every per-text input of the duplicate rules, so
verifying a candidate pair never re-reads or re-tokenises a text: a rule that
needs something new of each text adds a field here and computes it in
:func:`text_features`, and the pair rule in ``etl.dedup.matcher.verify`` reads it.

Shingles are identified by 64-bit ids rather than kept as byte strings: a
sorted, unique ``uint64`` array per text, so the overlap of two texts is a
vectorised merge (:func:`shared_shingles`) instead of a Python set
intersection, and a batch of articles pickles to the loader as flat arrays.
An id is a polynomial over the 64-bit ids (xxh3) of the shingle's words, so
two different shingles of the texts compared get the same id with probability
about 2^-64: the counts, and so every score, are those of the byte strings.
With the default ``hashfunc = "xxh32"`` these ids serve verification only and
MinHash signatures hash the shingles' bytes; ``hashfunc = "words"`` signs the
ids' low 32 bits instead (see etl.dedup.signatures, :func:`shingle_id`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, filterfalse

import numpy as np
import xxhash

from etl.text import words

_POLY = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_EMPTY_IDS = np.zeros(0, dtype=np.uint64)
# A word holds an ASCII digit, as the figure rule has always read them (a token "٣" is no figure).
_ASCII_DIGIT = re.compile(r"[0-9]").search
# Word ids already computed in this process; cleared when it grows past the cap, so memory stays bounded.
_WORD_ID_CAP = 500_000


class _WordIds(dict):
    def __missing__(self, word: str) -> int:
        if len(self) >= _WORD_ID_CAP:
            self.clear()
        value = self[word] = xxhash.xxh3_64_intdigest(word.encode("utf-8"))
        return value


_WORD_IDS = _WordIds()


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """Per-text inputs of the duplicate rules.

    ``shingles``: sorted unique ``uint64`` ids of the word ``size``-grams (a text
    shorter than ``size`` words is one shingle); ``len(shingles)`` is the size of
    the shingle set. ``tokens``: ``uint64`` ids of the normalised words in text
    order (the word-order measure compares these sequences). ``figures``: the
    normalised words holding an ASCII digit ("1.5" is two words, "1" and "5").
    """

    shingles: np.ndarray
    tokens: np.ndarray
    figures: frozenset[str]

    @property
    def shingle_count(self) -> int:
        return int(self.shingles.shape[0])

    @property
    def word_count(self) -> int:
        return int(self.tokens.shape[0])


EMPTY = TextFeatures(_EMPTY_IDS, _EMPTY_IDS, frozenset())


def text_features(text: str, size: int) -> TextFeatures:
    """Features of one dedup text (see :func:`features_of_batch`)."""
    return features_of_batch([words(text)], size)[0]


def features_of_tokens(tokens: list[str], size: int) -> TextFeatures:
    """Features of a text already split into normalised words (``etl.text.words``)."""
    return features_of_batch([tokens], size)[0]


def features_of_batch(token_lists: Sequence[list[str]], size: int) -> list[TextFeatures]:
    """Features of many texts, each already split into normalised words, in a few numpy passes.

    The word ids of the whole batch are one array; every ``size``-gram id is
    computed over it at once, then each text keeps the windows that lie inside it.
    """
    counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    total = int(counts.sum())
    ids = np.fromiter(map(_WORD_IDS.__getitem__, chain.from_iterable(token_lists)), np.uint64, total)
    starts = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    windows = _window_ids(ids, size) if total >= size else _EMPTY_IDS
    out = []
    for i, tokens in enumerate(token_lists):
        n = int(counts[i])
        if n == 0:
            out.append(EMPTY)
            continue
        begin = int(starts[i])
        mine = ids[begin : begin + n]
        shingles = np.sort(windows[begin : begin + n - size + 1] if n > size else _window_ids(mine, size))
        if shingles.shape[0] > 1:
            repeated = shingles[1:] == shingles[:-1]
            if repeated.any():
                shingles = shingles[np.concatenate(([True], ~repeated))]
        figures = frozenset(filter(_ASCII_DIGIT, filterfalse(str.isalpha, tokens)))
        out.append(TextFeatures(shingles=shingles, tokens=mine, figures=figures))
    return out


def _window_ids(ids: np.ndarray, size: int) -> np.ndarray:
    """One id per word ``size``-gram (one for the whole text when it is shorter): polynomial, mixed.

    Along the last axis, so a 2-D array of equal-length word runs (the leads of a
    batch) takes one call.
    """
    n = ids.shape[-1]
    width = min(size, n)
    count = n - width + 1
    with np.errstate(over="ignore"):
        acc = ids[..., :count].copy()
        for k in range(1, width):
            acc *= _POLY
            acc += ids[..., k : k + count]
        acc += np.uint64(width)  # a 3-word text is not the 3-word prefix of a 5-gram
        acc ^= acc >> _S33
        acc *= _MIX1
        acc ^= acc >> _S33
        acc *= _MIX2
        acc ^= acc >> _S33
    return acc


_M64 = (1 << 64) - 1


def shingle_id(shingle: bytes) -> int:
    """The id :func:`_window_ids` gives a shingle, from its bytes (its words joined by one space).

    The same arithmetic on Python integers: what datasketch calls as ``hashfunc``
    (etl.dedup.signatures), so that signatures built from these ids in bulk compare
    with a ``datasketch.MinHash`` updated with the shingles themselves.
    """
    parts = shingle.split(b" ")
    acc = xxhash.xxh3_64_intdigest(parts[0])
    for part in parts[1:]:
        acc = (acc * int(_POLY) + xxhash.xxh3_64_intdigest(part)) & _M64
    acc = (acc + len(parts)) & _M64
    acc ^= acc >> 33
    acc = (acc * int(_MIX1)) & _M64
    acc ^= acc >> 33
    acc = (acc * int(_MIX2)) & _M64
    return acc ^ (acc >> 33)


def lead_ids(features: Sequence[TextFeatures], lead_words: int, size: int) -> list[np.ndarray]:
    """The shingle ids of each text's first ``lead_words`` words (all of them for a shorter text).

    The texts longer than the lead are windowed in one 2-D call over their first words.
    """
    out: list[np.ndarray] = [f.shingles for f in features]
    longer = [i for i, f in enumerate(features) if f.word_count > lead_words]
    if longer:
        leads = _window_ids(np.vstack([features[i].tokens[:lead_words] for i in longer]), size)
        for i, row in zip(longer, leads, strict=True):
            out[i] = row
    return out


def shared_shingles(a: TextFeatures, b: TextFeatures) -> int:
    """How many shingles two texts have in common (the size of the set intersection)."""
    return int(shared_shingles_many(a, [b])[0])


def shared_shingles_many(a: TextFeatures, others: Sequence[TextFeatures]) -> np.ndarray:
    """``shared_shingles(a, o)`` for every ``o`` of ``others``, in a few numpy calls."""
    counts = np.zeros(len(others), dtype=np.int64)
    mine = a.shingles
    if not len(others) or mine.shape[0] == 0:
        return counts
    sizes = np.fromiter((o.shingles.shape[0] for o in others), dtype=np.int64, count=len(others))
    if not sizes.any():
        return counts
    theirs = np.concatenate([o.shingles for o in others])
    pos = np.searchsorted(mine, theirs)
    np.minimum(pos, mine.shape[0] - 1, out=pos)
    hits = (mine[pos] == theirs).astype(np.int64)
    ends = np.cumsum(sizes)
    totals = np.concatenate([[0], np.cumsum(hits)])
    return totals[ends] - totals[ends - sizes]


def pack(features: Sequence[TextFeatures]) -> tuple:
    """The features of a batch as a few flat arrays, to send between processes.

    Pickling thousands of small arrays costs far more than a few large ones;
    :func:`unpack` rebuilds the same features as views into the flat arrays.
    """
    return (
        np.fromiter((f.shingle_count for f in features), dtype=np.int64, count=len(features)),
        np.concatenate([f.shingles for f in features]) if features else _EMPTY_IDS,
        np.fromiter((f.word_count for f in features), dtype=np.int64, count=len(features)),
        np.concatenate([f.tokens for f in features]) if features else _EMPTY_IDS,
        [tuple(f.figures) for f in features],
    )


def unpack(packed: tuple) -> list[TextFeatures]:
    shingle_counts, shingles, word_counts, tokens, figures = packed
    s_ends, w_ends = np.cumsum(shingle_counts).tolist(), np.cumsum(word_counts).tolist()
    out, s0, w0 = [], 0, 0
    for s1, w1, figs in zip(s_ends, w_ends, figures, strict=True):
        out.append(TextFeatures(shingles[s0:s1], tokens[w0:w1], frozenset(figs)))
        s0, w0 = s1, w1
    return out
