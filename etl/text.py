"""Text rules shared by normalisation and deduplication.

The rule for what duplicate detection compares (``dedup_text``) is deliberately
simple so that it is predictable: a paragraph takes part when it reads as prose,
that is when it ends with sentence punctuation (optionally followed by closing
quotes or brackets) or is long (``PROSE_MIN_WORDS`` words or more). Injected
related-article headlines and sub-headings are short and unpunctuated, so they
stay in the body people read but never in the comparison. When no paragraph
qualifies (a one-line feed summary, say), or when prose is the smaller part
of the body (a results table with a one-line note), the whole body is compared.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

PROSE_MIN_WORDS = 25
# Share of a non-prose part's words that hold a digit for it to read as a table.
TABLE_FIGURE_SHARE = 0.25

_SENTENCE_END = re.compile(r"""[.!?\u2026:;][\s"'\u201d\u2019\u00bb)\]]*$""")
_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)


def clean_text(text: str) -> str:
    """Unicode NFC, unified line endings, no NULs, no-break spaces as spaces, lines stripped."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    # NUL cannot be stored in Postgres text; BOMs and no-break spaces are noise.
    text = text.replace("\x00", "").replace("\u00a0", " ").replace("\ufeff", "")
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def paragraphs(body: str) -> list[str]:
    """Paragraphs of a body: each line of a blank-line separated block, unless hard-wrapped.

    Crawlers put one paragraph per line; wire services and old archives wrap
    lines at a fixed width. Lines of a wrapped block are joined back into one
    paragraph, otherwise a headline sitting next to prose would count as prose
    and every wrapped line as a headline.
    """
    out: list[str] = []
    for block in re.split(r"\n\s*\n", body):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if len(lines) > 1 and not _hard_wrapped(lines):
            out.extend(lines)
        elif lines:
            out.append(" ".join(lines))
    # Runs of whitespace become one space. The lines are stripped, and str.split() splits on
    # exactly the characters regex \s matches, so this equals _WHITESPACE.sub(" ", p), at half the cost.
    return [" ".join(p.split()) for p in out]


def _hard_wrapped(lines: list[str]) -> bool:
    """Most lines (the last aside) stop mid-sentence at a similar, typewriter-like width.

    Two lines are too few to see a width: they count as wrapped only when the
    second visibly continues the first's sentence.
    """
    if len(lines) == 2:
        return lines[0].endswith(",") or lines[1][:1].islower()
    inner = lines[:-1]
    unpunctuated = sum(1 for line in inner if not _SENTENCE_END.search(line))
    widths = sorted(len(line) for line in inner)
    median = widths[len(widths) // 2]
    return unpunctuated * 2 >= len(inner) and 35 <= median <= 100


def is_prose(paragraph: str) -> bool:
    """True when a paragraph reads as running text rather than a headline or label."""
    if _SENTENCE_END.search(paragraph):
        return True
    return len(_WORD.findall(paragraph)) >= PROSE_MIN_WORDS


def dedup_text(body: str) -> str:
    """The part of ``body`` that duplicate detection compares (see module docstring).

    A body that is mostly not prose (an earnings table with one "NOTE: ..." line)
    is compared whole: otherwise two copies of a table would compare only their notes.
    """
    paras = paragraphs(body)
    reads_as_prose = [is_prose(p) for p in paras]
    prose = [p for p, yes in zip(paras, reads_as_prose, strict=True) if yes]
    rest = [p for p, yes in zip(paras, reads_as_prose, strict=True) if not yes]
    if prose and _is_table(rest) and len(_words_of(prose)) < len(_words_of(rest)):
        return "\n\n".join(paras)
    return "\n\n".join(prose or paras)


def _words_of(paras: list[str]) -> list[str]:
    return [w for p in paras for w in _WORD.findall(p)]


def _is_table(paras: list[str]) -> bool:
    """Lines that are mostly figures ("Shr 12 cts vs 10 cts"), not headlines."""
    tokens = _words_of(paras)
    figures = sum(any(c.isdigit() for c in t) for t in tokens)
    return bool(tokens) and figures >= TABLE_FIGURE_SHARE * len(tokens)


# The prepare stage hashes a dedup text (content_hash) and then splits it into words: the
# one-entry cache makes that a single normalisation (the text is the same object, so cheap to look up).
@lru_cache(maxsize=1)
def normalise_for_hash(text: str) -> str:
    """Case-, quote- and whitespace-insensitive form: equal forms mean an exact duplicate."""
    if text.isascii():
        # NFKC, the quote table and casefold change nothing in ASCII but the case, and there
        # \w+ is [A-Za-z0-9_]+: one byte-table pass lowers the letters and blanks the rest.
        return " ".join(text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split())
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(_WORD.findall(text))


def _ascii_word_byte(byte: int) -> int:
    char = chr(byte)
    if char.isascii() and (char.isalnum() or char == "_"):
        return ord(char.lower())
    return ord(" ")


_ASCII_WORDS = bytes(_ascii_word_byte(b) for b in range(256))


def content_hash(text: str) -> str:
    """sha256 (hex) of the normalised form of ``text``."""
    return hashlib.sha256(normalise_for_hash(text).encode("utf-8")).hexdigest()


def words(text: str) -> list[str]:
    """Normalised word tokens, the unit of shingling."""
    return normalise_for_hash(text).split()
