"""Whether two stories are one report: lexical measures weighed with headline, time and figures.

Measured on pairs of real Reuters-21578 and BBC stories judged by reading
(``benchmarks/data/judged_pairs.jsonl``), what tells editors' "keep one" from
"keep both" is, beside resemblance of the texts:

- **the headline's subject**: two dividend notices with a 14-word body that is word
  for word the same are two companies' notices when the headlines carry other
  tickers (``<AFP>`` vs ``<SMP>``); a short text names its subject only there;
- **time**: a wire service re-sends or corrects within hours, while a template
  (the Fed's repurchase bulletin, a grain-ships report) recurs on other days
  with the same words; a long story re-run the next day is still the same story;
- **which figures changed, in place**: "lowers copper price 0.25 cent" vs "0.50
  cent" is another day's cut, while an update that adds a paragraph with new
  figures is the same story; within hours and under one headline a changed
  figure is a correction or revision of the same release;
- **re-issue markers**: a CORRECTED or RPT headline, or a "(corrects ...)" note,
  names the story it replaces, however much the correction changed;
- **the same headline (or ticker) the same day**: an earnings release filed twice
  with its table laid out differently shares few shingles, but not its headline.

Each rule is a small function of :class:`Pair`; :func:`judge` applies them in
order and returns the measure that decided and its score, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import Levenshtein

from etl.config import DedupConfig
from etl.dedup.evidence import Context
from etl.dedup.features import TextFeatures
from etl.dedup.shingles import word_similarity

HOUR = 3600.0
# The thresholds below were read off the judged pairs (benchmarks/data/judged_pairs.jsonl);
# the README's "Deduplication" section shows a real pair each rule decides.
SAME_SUBJECT_TITLE = 0.7  # headline word Jaccard (markers removed) for "the same subject"
SAME_REPORT_HOURS = 24.0  # re-sends, corrections and refilings come within a day
TEMPLATE_HOURS = 36.0  # beyond this a short text with the same words is the template again
TEMPLATE_MAX_WORDS = 150  # longer stories re-run on a later day are still one story
SHORT_TEXT_WORDS = 40  # below this a text may name its subject only in the headline
HEADLINE_CONTAINMENT = 0.5  # undated stories under one headline, or one ticker's stories the same day,
HEADLINE_EDIT = 0.6  # also need this much of their text in common (a company files many stories a day)
SNAPSHOT_FIGURE_OVERLAP = 0.5  # price bulletins under one headline share fewer figures than this
REISSUE_TITLE = 0.4  # a marked re-issue needs this much of its original's headline...
CORRECTION_HOURS = 96.0  # ...and to come within four days
RERUN_TITLE = 0.8  # a long story re-run (often cut) under its headline...
RERUN_DAYS = 7.0  # ...within a week...
RERUN_CONTAINMENT = 0.6  # ...keeping most of its text
REWRITE_HOURS = 6.0  # a rewrite under a new headline comes within hours...
REWRITE_MIN_WORDS = 100  # ...of a story long enough to tell...
REWRITE_CONTAINMENT = 0.7  # ...and keeps most of its sentences
REWRITE_EDIT = 0.8  # (or most of its words in order)


class cached_property:  # noqa: N801 - functools' name, for what it replaces
    """``functools.cached_property`` without its lock, which Python 3.11 takes on every first access.

    The loader computes a few measures for each of tens of thousands of pairs per
    batch, in one thread; the lock cost more than most measures. As with functools',
    the value lands in the instance ``__dict__``, where later reads find it first.
    """

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func
        self.name = func.__name__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


@dataclass
class Pair:
    """Two stories: their texts' features, their evidence, and the shared shingle count.

    Measures are computed on first use: the word-order one is the costly one, and
    most pairs are decided before it is needed.
    """

    a_text: TextFeatures
    b_text: TextFeatures
    a: Context
    b: Context
    shared: int
    cfg: DedupConfig

    @cached_property
    def jaccard(self) -> float:
        na, nb = self.a_text.shingle_count, self.b_text.shingle_count
        return self.shared / (na + nb - self.shared) if na and nb else 0.0

    @cached_property
    def containment(self) -> float:
        smaller = min(self.a_text.shingle_count, self.b_text.shingle_count)
        return self.shared / smaller if smaller else 0.0

    @cached_property
    def edit(self) -> float:
        return word_similarity(self.a_text.tokens.tolist(), self.b_text.tokens.tolist())

    @cached_property
    def hours(self) -> float | None:
        if self.a.published is None or self.b.published is None:
            return None
        return abs(self.a.published - self.b.published) / HOUR

    @cached_property
    def shorter(self) -> int:
        """Words of the shorter text (as the word-order measure counts them)."""
        return min(self.a_text.word_count, self.b_text.word_count)

    @cached_property
    def title_similarity(self) -> float:
        ta, tb = self.a.title_words, self.b.title_words
        return len(ta & tb) / len(ta | tb) if ta and tb else 0.0

    @property
    def same_ticker(self) -> bool:
        return bool(self.a.tickers & self.b.tickers)

    @property
    def other_ticker(self) -> bool:
        """Both headlines name a company code, and not the same one."""
        return bool(self.a.tickers and self.b.tickers and not self.same_ticker)

    @property
    def same_subject(self) -> bool:
        return self.same_ticker or self.title_similarity >= SAME_SUBJECT_TITLE

    @property
    def near(self) -> bool:
        """Within a day of each other (or undated: nothing says otherwise)."""
        return self.hours is None or self.hours <= SAME_REPORT_HOURS

    @property
    def far(self) -> bool:
        return self.hours is not None and self.hours > TEMPLATE_HOURS

    @property
    def reissue(self) -> bool:
        return self.a.reissue or self.b.reissue


def lexical(p: Pair) -> tuple[str, float] | None:
    """Resemblance, containment or word order above their thresholds: the texts alone."""
    cfg = p.cfg
    if p.jaccard >= cfg.threshold:
        return ("jaccard", p.jaccard)
    smaller = min(p.a_text.shingle_count, p.b_text.shingle_count)
    if smaller >= cfg.min_containment_shingles and p.containment >= cfg.containment:
        return ("containment", p.containment)
    longer = max(p.a_text.word_count, p.b_text.word_count)
    # LCS is at most the shorter text: skip the computation when the lengths rule it out
    lengths_allow = 2 * p.shorter >= cfg.edit_similarity * (p.shorter + longer)
    if p.shorter >= cfg.min_edit_words and lengths_allow and p.edit >= cfg.edit_similarity:
        return ("edit", p.edit)
    return None


# A replaced span longer than this on either side is new material (another update
# paragraph), not a figure changed in place.
CHANGED_SPAN_TOKENS = 8


def _edit_reachable(p: Pair, level: float) -> bool:
    """Whether the lengths allow a word-order similarity of ``level`` (LCS is at most the shorter text)."""
    longer = max(p.a_text.word_count, p.b_text.word_count)
    return 2 * p.shorter >= level * (p.shorter + longer)


def changed_figure(a: Context, b: Context) -> bool:
    """A figure was replaced in place: a short span of the word diff has a figure on both sides.

    Figures only one side holds (an added paragraph, a dropped table row) are not
    a change; "0.25 cent" -> "0.50 cent" is. Two updates of one story that each
    add a paragraph of their own differ by long spans, which are not a change
    either: both still hold the whole original.
    """
    if not (a.figures - b.figures and b.figures - a.figures):
        return False  # every figure of one side stands in the other
    for op in Levenshtein.opcodes(a.tokens.tolist(), b.tokens.tolist()):
        if op.tag != "replace":
            continue
        mine, theirs = slice(op.src_start, op.src_end), slice(op.dest_start, op.dest_end)
        short = max(op.src_end - op.src_start, op.dest_end - op.dest_start) <= CHANGED_SPAN_TOKENS
        if short and a.is_figure[mine].any() and b.is_figure[theirs].any():
            return True
    return False


def price_snapshots(p: Pair) -> bool:
    """Two bulletins under one generic headline whose figures mostly differ (10:00 vs 11:00 quotes)."""
    fa, fb = p.a.figures, p.b.figures
    if p.same_ticker or min(len(fa), len(fb)) < 3:
        return False
    return len(fa & fb) / min(len(fa), len(fb)) < SNAPSHOT_FIGURE_OVERLAP


def figures_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """No figure word was *changed*: the texts do not each hold a figure word the other lacks.

    The texts-only check (word tokens, not canonical figures); see :func:`changed_figure`
    for the positional one the context rules use.
    """
    return not (a - b and b - a)


def texts_only(p: Pair) -> tuple[str, float] | None:
    """The lexical measures and the figure-word check: what the texts alone say."""
    verdict = lexical(p)
    if verdict and p.cfg.figures_must_agree and not figures_agree(p.a_text.figures, p.b_text.figures):
        return None
    return verdict


def bulletin_update(p: Pair) -> bool:
    """A dated report under a headline naming no company whose figures changed in place.

    Price tables, market reports and money-market notices are issued several times
    a day under one generic headline ("CBT CORN SPREADS", "MIDWEST GRAIN FUTURES");
    with new figures each issue is a new report. A company's results refiled with a
    revised figure (a ticker in the headline) are one release, and undated stories
    (no time to tell an issue from an edit) are left to the other rules.
    """
    if p.hours is None or p.reissue or p.a.tickers or p.b.tickers:
        return False
    return p.title_similarity >= SAME_SUBJECT_TITLE and changed_figure(p.a, p.b)


def judge(p: Pair) -> tuple[str, float] | None:
    """The measure and score that make the pair one report, or None (see module docstring)."""
    cfg = p.cfg
    if not cfg.context_rules:
        return texts_only(p)
    if p.other_ticker:
        return None  # the same boilerplate for another company
    if bulletin_update(p):
        return None  # a price table or market report under a generic headline, with new figures
    verdict = lexical(p)
    if verdict:
        if p.reissue:
            return verdict  # a marked re-issue or correction of this text
        if p.far and p.shorter < TEMPLATE_MAX_WORDS:
            return None  # a recurring template on another day
        if p.shorter < SHORT_TEXT_WORDS and not p.same_subject:
            return None  # a short notice whose subject is named only in the headline
        if cfg.figures_must_agree and changed_figure(p.a, p.b) and not (p.near and p.same_subject):
            return None  # the same wording with other figures: another day's or another item's report
        return verdict
    shares_text = p.containment >= HEADLINE_CONTAINMENT or (
        _edit_reachable(p, HEADLINE_EDIT) and p.edit >= HEADLINE_EDIT
    )
    same_headline = p.title_similarity >= SAME_SUBJECT_TITLE
    within_days = p.hours is None or p.hours <= CORRECTION_HOURS
    if p.reissue and within_days and (same_headline or (p.same_ticker and shares_text)):
        return ("correction", round(p.title_similarity, 4))
    if p.near and same_headline and not price_snapshots(p) and (p.hours is not None or shares_text):
        return ("headline", round(p.title_similarity, 4))
    if p.near and p.same_ticker and shares_text:
        # one company, one day, much of the text shared: a release filed twice under another headline
        return ("headline", round(p.title_similarity, 4))
    if (
        p.title_similarity >= RERUN_TITLE
        and p.hours is not None
        and p.hours <= RERUN_DAYS * 24
        and p.shorter >= REWRITE_MIN_WORDS
        and p.containment >= RERUN_CONTAINMENT
    ):
        return ("headline", round(p.title_similarity, 4))  # a story re-run, cut, on a later day
    if p.hours is not None and p.hours <= REWRITE_HOURS and p.shorter >= REWRITE_MIN_WORDS:
        if p.containment >= REWRITE_CONTAINMENT:
            return ("containment", p.containment)
        if _edit_reachable(p, REWRITE_EDIT) and p.edit >= REWRITE_EDIT:
            return ("edit", p.edit)
    return None
