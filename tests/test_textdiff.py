"""The word diff explain prints, and the compressed form a dropped body is stored in."""

from __future__ import annotations

from etl.textdiff import pack, unpack, word_diff
from tests.conftest import story


def test_a_changed_figure_is_marked_inline_with_a_little_context() -> None:
    old = "Net profit was 2,101,000 dlrs against 1,782,000 dlrs a year earlier, the company said."
    new = old.replace("2,101,000", "2,110,000")
    assert word_diff(old, new, context=3) == [
        "Net profit was [-2,101,000-] {+2,110,000+} dlrs against 1,782,000 ..."
    ]


def test_equal_words_give_no_diff() -> None:
    assert word_diff("a  b\nc", "a b c") == []


def test_a_long_story_with_many_changes_is_bounded() -> None:
    old = story(5, words=3000)
    words = old.split()
    new = " ".join(w if i % 50 else "CHANGED" for i, w in enumerate(words))
    lines = word_diff(old, new, context=4, max_chars=600)
    assert sum(len(line) for line in lines) < 700
    assert lines[-1].startswith("... and ") and "more changed region(s) not shown" in lines[-1]
    assert all("{+CHANGED+}" in line for line in lines[:-1])


def test_pack_round_trips_and_compresses() -> None:
    body = story(6, words=600)
    z = pack(body)
    assert unpack(z) == body and len(z) < len(body.encode()) / 2
    assert unpack(None) is None
