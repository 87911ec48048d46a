"""The fast paths of the text evidence give exactly what the general path gives."""

from __future__ import annotations

import pickle
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.dedup.evidence import _ASCII_TOKEN, _TOKEN, canonical_tokens, pack, text_evidence, unpack
from etl.text import words

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


ascii_pieces = st.lists(
    st.sampled_from(
        [
            "2,000",
            "6-1/16",
            "9:40 a.m.",
            "0940 hrs",
            "0940hrs",
            "ten",
            "Twenty",
            "TWO",
            "two2",
            "2two",
            "two_three",
            "_",
            "fourteen",
            "four",
            "1st",
            "0.50",
            "3/4",
            "x",
            ",",
            "(",
            "\x1c",
            " ",
            "",
            "Shr",
        ]
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(ascii_pieces, st.sampled_from(["", " ", "-", "_"]))
def test_ascii_figures_from_the_figures_only_pass_equal_the_token_pass(parts: list[str], glue: str) -> None:
    text = glue.join(parts)
    canonical = canonical_tokens(text)
    expected = {token for token, figure in canonical if figure}
    assert text_evidence(text).figures == expected
    assert text_evidence(text, words(text)).figures == expected
    # the token sequence, computed on first use, is the full pass's
    evidence = text_evidence(text)
    assert evidence.words == len(canonical)
    assert evidence.is_figure.tolist() == [figure for _, figure in canonical]


@settings(max_examples=300, deadline=None)
@given(ascii_news)
def test_ascii_figures_equal_the_token_pass_on_any_ascii(text: str) -> None:
    assert text_evidence(text).figures == {token for token, figure in canonical_tokens(text) if figure}


def test_evidence_sent_between_processes_keeps_figures_and_notes_and_rebuilds_tokens() -> None:
    texts = ["Shr 12 cts vs ten cts (corrects figure)", "Le café a coûté 2,50 euros, dix fois plus."]
    sent = [text_evidence(t) for t in texts]
    received = unpack(pickle.loads(pickle.dumps(pack(sent))), texts)
    for a, b in zip(sent, received, strict=True):
        assert (a.figures, a.reissue_note, a.correction_note) == (
            b.figures,
            b.reissue_note,
            b.correction_note,
        )
        assert a.tokens.tolist() == b.tokens.tolist() and a.is_figure.tolist() == b.is_figure.tolist()
    assert received[0].correction_note and received[0].figures == {"12", "10"}
