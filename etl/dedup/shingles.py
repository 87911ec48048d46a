"""Word n-gram shingles of the text duplicate detection compares."""

from __future__ import annotations

from etl.text import words


def shingles(text: str, size: int) -> set[bytes]:
    """Word ``size``-grams of the normalised text; a text shorter than ``size`` words is one shingle."""
    tokens = words(text)
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
    """Share of the smaller set found in the larger one (a truncated story inside its full version)."""
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small)
