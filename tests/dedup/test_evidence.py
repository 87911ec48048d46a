"""The fast paths of the text evidence give exactly what the general path gives."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.dedup.evidence import _ASCII_TOKEN, _TOKEN, canonical_tokens, text_evidence

# Letters, digits and the punctuation figures are written with, ASCII control characters included.
ascii_news = st.text(alphabet=st.characters(max_codepoint=127), max_size=300)
pieces = st.lists(
    st.sampled_from(
        ["2,000", "6-1/16", "9:40 a.m.", "0940 hrs", "ten", "0.50", "ß", "ﬁve", "\x1c", " ", "Shr"]
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ascii_news)
def test_ascii_tokens_equal_the_general_pattern(text: str) -> None:
    assert _ASCII_TOKEN.findall(text) == _TOKEN.findall(unicodedata.normalize("NFKC", text))


@settings(max_examples=200, deadline=None)
@given(pieces)
def test_evidence_tokens_and_figures_follow_the_canonical_tokens(parts: list[str]) -> None:
    text = " ".join(parts)
    evidence = text_evidence(text)
    canonical = canonical_tokens(text)
    assert evidence.words == len(canonical)
    assert evidence.is_figure.tolist() == [figure for _, figure in canonical]
    assert evidence.figures == {token for token, figure in canonical if figure}
    # equal tokens get equal ids, different tokens different ones
    ids = evidence.tokens.tolist()
    for (a, _), x in zip(canonical, ids, strict=True):
        for (b, _), y in zip(canonical, ids, strict=True):
            assert (a == b) == (x == y)
