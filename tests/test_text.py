"""etl.text: the shared cleaning and dedup-text rules."""

from __future__ import annotations

import hashlib
import random
import re

from etl.text import (
    PROSE_MIN_WORDS,
    clean_text,
    content_hash,
    dedup_text,
    is_prose,
    normalise_for_hash,
    paragraphs,
    words,
)


def test_clean_text_unifies_line_endings_and_spaces():
    assert clean_text("\ufeff a\u00a0b \r\n c \r d ") == "a b\nc\nd"


def test_clean_text_composes_unicode():
    assert clean_text("Cafe\u0301") == "Caf\u00e9"


def test_paragraphs_blank_line_blocks_with_inner_whitespace_collapsed():
    assert paragraphs("One   line.\n\n  \nTwo  words.") == ["One line.", "Two words."]


def test_hard_wrapped_lines_are_joined_but_a_headline_above_prose_is_not():
    wrapped = (
        "Showers continued throughout the week in the Bahia cocoa zone,\n"
        "alleviating the drought since early January and improving\n"
        "prospects for the coming temporao, Comissaria Smith said.\n"
    )
    assert paragraphs(wrapped) == [" ".join(line for line in wrapped.split("\n") if line)]
    mixed = "Markets rally as investors weigh rates\nThe ministry said on Friday it would review the figures."
    assert paragraphs(mixed) == [
        "Markets rally as investors weigh rates",
        "The ministry said on Friday it would review the figures.",
    ]


def test_paragraphs_fall_back_to_lines_without_blank_lines():
    assert paragraphs("First.\nSecond.\n") == ["First.", "Second."]


def test_is_prose_by_punctuation_or_length():
    assert is_prose("He said so.")
    assert is_prose('"We are ready," he said.\u201d')
    assert is_prose("What next?")
    assert not is_prose("Russian bombers destroy Islamic State's arms depots in Deir ez-Zor")
    assert is_prose(" ".join(["word"] * PROSE_MIN_WORDS))
    assert not is_prose(" ".join(["word"] * (PROSE_MIN_WORDS - 1)))


def test_dedup_text_drops_headlines_and_falls_back_to_everything():
    body = "A sentence.\n\nA headline\n\nAnother sentence."
    assert dedup_text(body) == "A sentence.\n\nAnother sentence."
    assert dedup_text("Only a headline\n\nAnd a label") == "Only a headline\n\nAnd a label"


def test_normalise_for_hash_ignores_case_quotes_punctuation_and_spacing():
    assert normalise_for_hash("Russia\u2019s  \u201cTop\u201d\u00a0Diplomat!") == "russia s top diplomat"
    assert normalise_for_hash("\uff21BC") == "abc"  # NFKC folds full-width letters


def test_content_hash_is_sha256_of_normal_form():
    assert content_hash("Hello,  World") == hashlib.sha256(b"hello world").hexdigest()
    assert content_hash("\u201cHello\u201d world") == content_hash('"hello" WORLD')


def test_words():
    assert words("The  Quick\nfox") == ["the", "quick", "fox"]
    assert words("   ") == []


def test_words_of_punctuation_only_text_is_empty():
    assert words("\u2014 ...") == []


def test_paragraphs_collapse_every_kind_of_whitespace_to_one_space():
    body = "Prices rose\u3000\u3000sharply\x1con\u2028Friday,\t\tit said.\n\nSecond\u00a0 paragraph ."
    assert paragraphs(body) == ["Prices rose sharply on Friday, it said.", "Second paragraph ."]


def test_a_results_table_with_a_note_is_compared_whole() -> None:
    from etl.text import dedup_text

    table = (
        "Shr 41 cts vs 35 cts\nNet 2,101,000 vs 1,782,000\nRevs 45.6 mln vs 40.1 mln\n"
        "Avg shrs 5,123,000 vs 5,090,000\n\nNOTE: Results restated for discontinued operations."
    )
    compared = dedup_text(table)
    assert "Net 2,101,000 vs 1,782,000" in compared and "NOTE: Results restated" in compared
    # a story with a short headline-like line still compares its prose only
    story = (
        "Related: Markets rally\n\n" + "The minister said the talks would resume next week in Geneva. " * 3
    )
    assert "Related" not in dedup_text(story)


def test_ascii_texts_normalise_to_their_lowercased_word_runs_whatever_the_characters():
    """The byte-table path for ASCII gives exactly what \\w+ over the lowercased text gives."""
    rng = random.Random(3)
    samples = ["", "A_b-C d\te\x00F", "Shr 12 cts vs 10 cts\n\nNet 1,234,000 ($0.5)", "__init__ x__y"]
    samples += ["".join(chr(rng.randrange(128)) for _ in range(rng.randrange(60))) for _ in range(3000)]
    for text in samples:
        assert normalise_for_hash(text) == " ".join(re.findall(r"\w+", text.lower())), repr(text)
    assert words("Net 1,234,000 (SHR_A)") == ["net", "1", "234", "000", "shr_a"]
