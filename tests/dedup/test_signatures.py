"""MinHash signatures and band keys: similar texts share buckets, unrelated ones do not."""

from __future__ import annotations

import numpy as np

from etl.config import DedupConfig
from etl.dedup.features import text_features
from etl.dedup.matcher import containment, jaccard, verify
from etl.dedup.shingles import shingles
from etl.dedup.signatures import (
    band_keys,
    compute_signatures,
    estimated_jaccard,
    signature_from_bytes,
    signature_to_bytes,
)
from tests.conftest import edit_words, story

CFG = DedupConfig()


def test_near_duplicates_share_a_band_and_unrelated_stories_do_not() -> None:
    a, b, c = story(1), edit_words(story(1), 3), story(2)
    sets = [shingles(t, CFG.shingle_size) for t in (a, b, c)]
    sigs = compute_signatures(sets, CFG)
    keys = band_keys(sigs, CFG)
    assert keys.shape == (3, CFG.bands)
    assert set(keys[0]) & set(keys[1])
    assert not set(keys[0]) & set(keys[2])
    exact = jaccard(text_features(a, CFG.shingle_size), text_features(b, CFG.shingle_size))
    assert abs(estimated_jaccard(sigs[0], sigs[1]) - exact) < 0.1


def test_band_keys_are_deterministic_and_band_specific() -> None:
    sig = compute_signatures([shingles(story(5), CFG.shingle_size)], CFG)
    assert np.array_equal(band_keys(sig, CFG), band_keys(sig.copy(), CFG))
    same_rows = np.zeros((1, CFG.num_perm), dtype=np.uint64)
    assert len(set(band_keys(same_rows, CFG)[0])) == CFG.bands  # equal rows, other band: other key


def test_signature_bytes_round_trip() -> None:
    sig = compute_signatures([shingles(story(7), CFG.shingle_size)], CFG)[0]
    data = signature_to_bytes(sig, CFG)
    assert len(data) == CFG.num_perm * 4
    assert np.array_equal(signature_from_bytes(data, CFG), sig)


def _f(text: str):
    return text_features(text, CFG.shingle_size)


def test_verify_accepts_resemblance_and_containment_but_not_overlap() -> None:
    full = _f(story(9, words=400))
    edited = _f(edit_words(story(9, words=400), 4))
    half = _f(" ".join(story(9, words=400).split(" ")[:200]))
    other = _f(story(10, words=400))
    assert verify(full, edited, CFG)[0] == "jaccard"
    measure, score = verify(full, half, CFG)
    assert measure == "containment" and score >= 0.9 and jaccard(full, half) < 0.8
    assert verify(full, other, CFG) is None
    assert containment(full, other) < 0.05


def test_a_short_story_with_a_few_words_changed_is_an_edit_not_a_new_story() -> None:
    base = story(21, words=70)
    edited = edit_words(base, 3)
    a, b = _f(base), _f(edited)
    assert jaccard(a, b) < CFG.threshold  # each edit breaks five shingles
    assert containment(a, b) < CFG.containment
    measure, score = verify(a, b, CFG)
    assert measure == "edit" and score >= 0.95
    assert verify(b, a, CFG) == (measure, score)
    rewritten = edit_words(base, 12)  # one word in six: a different text
    assert verify(a, _f(rewritten), CFG) is None


def test_short_texts_are_not_matched_by_containment_or_edits() -> None:
    tiny = _f("Markets closed higher on Friday.")
    big = _f("Markets closed higher on Friday. " + story(3))
    assert containment(tiny, big) == 1.0
    assert verify(tiny, big, CFG) is None
    line = "Shares of the company closed higher on Friday after a strong quarterly report from its main unit"
    assert verify(_f(line), _f(line.replace("higher", "lower")), CFG) is None  # 18 words: too short


def test_same_template_with_other_figures_is_another_story() -> None:
    day1 = (
        "The Federal Reserve entered the U.S. Government securities market to arrange 1.5 billion "
        "dlrs of customer repurchase agreements, a Fed spokesman said. Dealers said Federal funds "
        "were trading at 6-3/16 pct when the Fed began its temporary and indirect supply of "
        "reserves to the banking system."
    )
    day2 = day1.replace("1.5 billion", "2.5 billion")
    a, b = _f(day1), _f(day2)
    assert jaccard(a, b) > 0.6
    assert verify(a, b, CFG) is None
    reissued = _f(day1 + " The Fed said the operation would settle on Friday.")
    assert verify(a, reissued, CFG) is not None


def test_figure_rule_is_symmetric_and_allows_one_sided_additions() -> None:
    base = "The council approved eleven kilometres of cycle lanes after 4,000 comments. " + story(12)
    edited = base.replace("eleven kilometres", "11 kilometres")
    a, b = _f(base), _f(edited)
    assert verify(a, b, CFG) is not None
    assert verify(b, a, CFG) is not None
