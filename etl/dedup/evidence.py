"""What a pair judgement needs of a story beyond its shingles: headline, entities, time, figures.

Lexical similarity alone cannot tell a correction from tomorrow's template, or a
dividend notice of one company from the same notice of another: the bodies can be
word for word the same. Editors tell them apart by the headline (which company,
which market), the time (a re-send comes within hours, the template recurs the
next day) and exactly which figures changed. :class:`Context` holds those per
story, computed once in the prepare stage; ``etl.dedup.rules`` weighs them.

Figures are compared in a canonical form, so that formatting is not a change:
``2,000`` and ``2000``, ``ten`` and ``10``, ``6-1/16`` and ``6.0625``, ``0.50``
and ``0.5``, ``9:40 a.m.`` and ``0940 hrs`` are each one figure. Each text keeps
its token sequence (word and figure ids, with figures marked) so a pair's word
diff can say whether a figure *changed in place* ("0.25 cent" -> "0.50 cent"), as
opposed to one side adding a paragraph with new figures (an update).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import filterfalse

import numpy as np
import xxhash

from etl.text import normalise_for_hash

# A re-issue marker opens the headline ("CORRECTED - ...", "RPT-...", "UPDATE 2-") or
# stands in brackets ("(CORRECTED)"); "<RPT>" alone is a ticker, "market correction" a noun.
_MARKER = r"(?:CORRECTED|CORRECTION|CORRECTS|RPT|REPEAT(?:ED)?|UPDATE[SD]?(?:\s+\d+)?|REFILE[D]?)"
_TITLE_MARKERS = re.compile(
    rf"^\W*(?:[(<]?{_MARKER}[)>]?\s*[-:]*\s*)+|\s*[(<]{_MARKER}[)>]\s*$", re.IGNORECASE
)
_TITLE_REISSUE = re.compile(rf"^\W*{_MARKER}\b(?!>)|\({_MARKER}\)", re.IGNORECASE)
# In the body: a bracketed note anywhere ("(Corrects figure in third paragraph)"), or a
# closing "-- corrects ..." line as wire services append to a corrected story.
_BODY_REISSUE = re.compile(
    r"\(\s*(?:corrected|correction|corrects?|rpt|repeats?|repeated|updates?|updated|adds|recasts)\b"
    r"|--\s*(?:corrects?|corrected|correcting)\b",
    re.IGNORECASE,
)
# A correction in particular: it replaces the version it corrects (see etl.dedup.matcher).
_TITLE_CORRECTION = re.compile(r"^\W*CORRECT(?:ED|ION)\b|\(CORRECT(?:ED|ION)\)", re.IGNORECASE)
_CORRECTS_NOTE = re.compile(r"\(\s*correct(?:s|ed|ing)\b|--\s*correct(?:s|ed|ing)\b", re.IGNORECASE)
# Tickers as wire headlines carry them: "K MART <KM> FEBRUARY SALES" (also "<CLT.TO>").
_TICKER = re.compile(r"<([A-Z][A-Z0-9.]{0,9})>")

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
_TEENS = ["sixteen", "seventeen", "eighteen", "nineteen"]
_NUMBER_WORDS = {w: i for i, w in enumerate([*_UNITS.split(), *_TEENS])}
_NUMBER_WORDS |= {w: 10 * i for i, w in enumerate(["twenty", "thirty", "forty", "fifty"], start=2)}
_NUMBER_WORDS |= {w: 10 * i for i, w in enumerate(["sixty", "seventy", "eighty", "ninety"], start=6)}
_FIGURE_KINDS = (
    ("clock", r"\d{1,2}[:.]\d{2}\s*[ap]\.?\s?m\b\.?"),
    ("hhmm", r"\d{4}\s*(?:hrs|gmt|edt|est|bst|cet|local)\b"),
    ("mixed", r"\d+\s?-\s?\d+/\d+"),
    ("frac", r"\d+/\d+"),
    ("num", r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"),
)
# One pass over a text: words, else figures in their written forms (words first: most
# tokens are words, and the regex tries its alternatives in order).
# The lookahead lets the engine skip the figure alternatives at once where no digit starts.
_FIGURES = "(?=\\d)(?i:" + "|".join(f"(?:{p})" for _, p in _FIGURE_KINDS) + ")"
_TOKEN = re.compile(r"[^\W\d_]+|" + _FIGURES)
# The same tokens of an ASCII text (where a letter is [A-Za-z]), found a third faster.
_ASCII_TOKEN = re.compile(r"[A-Za-z]+|" + _FIGURES)
_KIND = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _FIGURE_KINDS]
_NUMBER_WORD_TEXT = {w: str(n) for w, n in _NUMBER_WORDS.items()}
_CACHE_CAP = 500_000


class TextEvidence:
    """What the rules need of a compared text: a function of that text alone.

    So it can be cached by content hash (see etl.dedup.matcher.RECENT) and sent
    between processes (:func:`pack`). ``figures``: the set of canonical figures;
    ``reissue_note`` and ``correction_note``: a "(corrects ...)" or "(adds ...)"
    note in the text. ``tokens``: ids of the canonical tokens in order, and
    ``is_figure`` marks the figures among them: only a pair whose figure sets
    differ both ways needs them (about 1 in 100 compared pairs), so they are
    computed from ``text`` on first use, wherever that happens.
    """

    __slots__ = ("reissue_note", "correction_note", "figures", "text", "_tokens", "_is_figure")

    def __init__(
        self,
        reissue_note: bool,
        correction_note: bool,
        figures: frozenset[str],
        text: str,
        tokens: np.ndarray | None = None,
        is_figure: np.ndarray | None = None,
    ) -> None:
        self.reissue_note = reissue_note
        self.correction_note = correction_note
        self.figures = figures
        self.text = text
        self._tokens = tokens
        self._is_figure = is_figure

    def _sequence(self) -> None:
        index = _slot_sequence(self.text)
        self._tokens, self._is_figure = _SLOTS.ids[index], _SLOTS.figure[index]

    @property
    def tokens(self) -> np.ndarray:
        if self._tokens is None:
            self._sequence()
        return self._tokens  # type: ignore[return-value]

    @property
    def is_figure(self) -> np.ndarray:
        if self._is_figure is None:
            self._sequence()
        return self._is_figure  # type: ignore[return-value]

    @property
    def words(self) -> int:
        return int(self.tokens.shape[0])


@dataclass(frozen=True, slots=True)
class Context:
    """Per-story evidence for the pair rules: the text's, plus headline and time.

    ``title_words``: the headline's normalised words, re-issue markers removed;
    ``tickers``: the ``<TICKER>`` codes in the headline; ``published``: POSIX
    seconds, or None when the story carries no time.
    """

    title_words: frozenset[str]
    tickers: frozenset[str]
    title_reissue: bool
    title_correction: bool
    published: float | None
    text: TextEvidence

    @property
    def reissue(self) -> bool:
        return self.title_reissue or self.text.reissue_note

    @property
    def correction(self) -> bool:
        return self.title_correction or self.text.correction_note

    @property
    def words(self) -> int:
        return self.text.words

    @property
    def figures(self) -> frozenset[str]:
        return self.text.figures

    @property
    def tokens(self) -> np.ndarray:
        return self.text.tokens

    @property
    def is_figure(self) -> np.ndarray:
        return self.text.is_figure


def base_title(title: str) -> str:
    """The headline without re-issue markers ("CORRECTED - X" -> "X")."""
    return _TITLE_MARKERS.sub("", title or "").strip()


def canonical_tokens(text: str) -> list[tuple[str, bool]]:
    """The text as (token, is_figure) pairs, figures in canonical form (see module docstring)."""
    out: list[tuple[str, bool]] = []
    for raw in _TOKEN.findall(unicodedata.normalize("NFKC", text)):
        if raw[0].isdigit():
            out.append((_canonical(raw), True))
        else:
            low = raw.casefold()
            word = _NUMBER_WORD_TEXT.get(low)
            out.append((low, False) if word is None else (word, True))
    return out


_CANONICAL: dict[str, str] = {}


def _canonical(raw: str) -> str:
    """The canonical form of one written figure (cached: figures repeat across a batch)."""
    found = _CANONICAL.get(raw)
    if found is None:
        if len(_CANONICAL) > _CACHE_CAP:
            _CANONICAL.clear()
        kind = next((k for k, pattern in _KIND if pattern.fullmatch(raw)), "num")
        found = _CANONICAL[raw] = _canonical_figure(kind, raw)
    return found


def _canonical_figure(kind: str | None, raw: str) -> str:
    digits = raw.replace(" ", "")
    if kind == "clock":
        hh, mm = re.split(r"[:.]", digits[:5].rstrip("apmAPM."), maxsplit=1)[:2]
        hour = int(hh) % 12 + (12 if "p" in digits.lower() else 0)
        return f"t{hour:02d}{int(mm[:2]):02d}"
    if kind == "hhmm":
        return f"t{digits[:4]}"
    if kind == "mixed":
        whole, frac = digits.split("-", 1)
        num, den = frac.split("/")
        return _number(int(whole) + (int(num) / int(den) if int(den) else 0))
    if kind == "frac":
        num, den = digits.split("/")
        return _number(int(num) / int(den)) if int(den) else digits
    return _number(float(digits.replace(",", "")))


def _number(value: float) -> str:
    return format(value, ".10g")


class _Slots(dict):
    """Raw token (as written) -> slot in the token tables; a miss fills the slot once.

    A text's tokens then map to slots in one C-level pass (``map`` over
    ``__getitem__``), and ids, figure marks and canonical figures come from the
    tables by numpy indexing: no Python work per token for tokens seen before.
    The tables are cleared (between texts) when they pass the cap, so memory stays bounded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.canonical: list[str] = []
        self.ids = np.zeros(1024, dtype=np.uint64)  # capacity doubles as slots are added
        self.figure = np.zeros(1024, dtype=bool)

    def __missing__(self, raw: str) -> int:
        if raw[0].isdigit():
            token, figure = _canonical(raw), True
        else:
            token = raw.casefold()
            word = _NUMBER_WORD_TEXT.get(token)
            figure = word is not None
            token = word if figure else token
        slot = self[raw] = len(self.canonical)
        if slot == self.ids.shape[0]:
            self.ids = np.concatenate([self.ids, np.zeros_like(self.ids)])
            self.figure = np.concatenate([self.figure, np.zeros_like(self.figure)])
        self.ids[slot] = xxhash.xxh3_64_intdigest(token.encode("utf-8"))
        self.figure[slot] = figure
        self.canonical.append(token)
        return slot

    def reset_if_full(self) -> None:
        if len(self.canonical) > _CACHE_CAP:
            self.clear()
            self.canonical = []


_SLOTS = _Slots()


def _slot_sequence(compared: str) -> np.ndarray:
    """The slots of the text's canonical tokens, in order: one regex pass, one C-level lookup pass."""
    _SLOTS.reset_if_full()
    if compared.isascii():
        raws = _ASCII_TOKEN.findall(compared)
    else:
        raws = _TOKEN.findall(unicodedata.normalize("NFKC", compared))
    return np.fromiter(map(_SLOTS.__getitem__, raws), dtype=np.intp, count=len(raws))


def text_evidence(compared: str, words: list[str] | None = None) -> TextEvidence:
    """The evidence of one compared (dedup) text; this runs for every article in the prepare stage.

    ``words``: the text's normalised words (``etl.text.words``) when the caller has
    them. An ASCII text's figures come from a figures-only pass (see
    :func:`_ascii_figures`) and its token sequence waits until a rule needs it;
    other texts are tokenised whole at once, which gives both.
    """
    reissue = bool(_BODY_REISSUE.search(compared))
    correction = bool(_CORRECTS_NOTE.search(compared))
    if compared.isascii():
        return TextEvidence(reissue, correction, _ascii_figures(compared, words), compared)
    index = _slot_sequence(compared)
    mask = _SLOTS.figure[index]
    canonical = _SLOTS.canonical
    figures = frozenset(canonical[i] for i in index[mask].tolist())
    return TextEvidence(reissue, correction, figures, compared, _SLOTS.ids[index], mask)


_ASCII_FIGURE = re.compile(_FIGURES)
_NUMBER_WORD_KEYS = _NUMBER_WORD_TEXT.keys()
_LETTER_RUN = re.compile(r"[a-z]+")


def _ascii_figures(compared: str, words: list[str] | None) -> frozenset[str]:
    """The canonical figures of an ASCII text: what the token pass marks as figures, found faster.

    Figures start with a digit and letter runs hold none, so a figures-only scan
    meets the digits where the full scan does and matches the same spans. A number
    word is a whole letter run; letter runs lie inside the normalised words (letters
    are word characters), and are the words themselves unless a word mixes letters
    with digits or underscores ("2two", "two_three"), whose runs are looked at one
    by one. (tests/dedup/test_evidence.py checks all of it against the full pass.)
    """
    out = {_canonical(raw) for raw in _ASCII_FIGURE.findall(compared)}
    present = set(normalise_for_hash(compared).split() if words is None else words)
    out.update(_NUMBER_WORD_TEXT[w] for w in _NUMBER_WORD_KEYS & present)
    for word in filterfalse(str.isalpha, filterfalse(str.isdigit, present)):
        out.update(_NUMBER_WORD_TEXT[r] for r in _LETTER_RUN.findall(word) if r in _NUMBER_WORD_TEXT)
    return frozenset(out)


def context_of(title: str, published: datetime | None, text: TextEvidence) -> Context:
    """A story's evidence from its headline, its time and its text's evidence."""
    words, tickers, reissue, correction = _headline_evidence(title or "")
    return Context(
        title_words=words,
        tickers=tickers,
        title_reissue=reissue,
        title_correction=correction,
        published=published.timestamp() if published else None,
        text=text,
    )


@lru_cache(maxsize=1 << 16)
def _headline_evidence(title: str) -> tuple[frozenset[str], frozenset[str], bool, bool]:
    """What a headline says (cached: the loader meets each stored candidate's headline batch after batch)."""
    return (
        frozenset(normalise_for_hash(base_title(title)).split()),
        frozenset(_TICKER.findall(title)),
        bool(_TITLE_REISSUE.search(title)),
        bool(_TITLE_CORRECTION.search(title)),
    )


def pack(evidence: Sequence[TextEvidence]) -> list[tuple[bool, bool, tuple[str, ...]]]:
    """Text evidence of a batch, to send between processes: the texts travel with their articles.

    A token sequence already computed is not sent: the receiving side rarely needs it.
    """
    return [(e.reissue_note, e.correction_note, tuple(e.figures)) for e in evidence]


def unpack(packed: list[tuple[bool, bool, tuple[str, ...]]], texts: Sequence[str]) -> list[TextEvidence]:
    """The evidence :func:`pack` sent, for the same texts in the same order."""
    return [
        TextEvidence(reissue, correction, frozenset(figures), text)
        for (reissue, correction, figures), text in zip(packed, texts, strict=True)
    ]


_DAY = 86400
# Tickers share keys over four-day windows: a correction may follow its story by days.
_TICKER_DAYS = 4
_RERUN_MIN_WORDS = 100
_MAX_TICKERS = 3


def headline_keys(title: str, published: datetime | None, words: int) -> list[int]:
    """Index keys that make stories with one headline (or ticker) near in time meet as candidates.

    LSH on the texts cannot propose an earnings table filed twice in another layout,
    or a correction that rewrote the numbers: their shingles barely overlap, their
    headlines do not. Keys are bucketed by time so that a daily bulletin's headline
    does not gather every day's issue under one key: a story gets the key of its
    own window and of the next one, so any two stories within one window length
    share a key. Headline keys pair stories within a day (a week for long stories,
    which are re-run cut under their headline); ticker keys within four days. An
    undated story (a feed without dates) gets one key for its headline.
    """
    head = normalise_for_hash(base_title(title))
    tickers = sorted(set(_TICKER.findall(title or "")))[:_MAX_TICKERS]
    keys: list[str] = []
    if published is None:
        if head:
            keys.append(f"t|{head}")
        return [_signed(k) for k in keys]
    day = int(published.timestamp() // _DAY)
    if head:
        keys += [f"t|{head}|{day}", f"t|{head}|{day + 1}"]
        if words >= _RERUN_MIN_WORDS:
            week = day // 7
            keys += [f"w|{head}|{week}", f"w|{head}|{week + 1}"]
    window = day // _TICKER_DAYS
    for ticker in tickers:
        keys += [f"k|{ticker}|{window}", f"k|{ticker}|{window + 1}"]
    return [_signed(k) for k in keys]


def _signed(key: str) -> int:
    """A 64-bit key as the index stores them (signed BIGINT), from a namespaced string."""
    return int(np.uint64(xxhash.xxh3_64_intdigest(key.encode("utf-8"))).view(np.int64))
