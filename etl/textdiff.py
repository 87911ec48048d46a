"""Keeping a dropped version's text small, and showing how it differs from the kept one.

A dropped record's body is stored zlib-compressed (``duplicates.body_z``), so
``newsetl explain`` can show what a correction or revision changed without the
dump file. The diff is on words, inline (``[-removed-]{+added+}``), and shows
only the changed regions with a few words of context, bounded in total length
so a long story does not flood the terminal.
"""

from __future__ import annotations

import difflib
import zlib

ZLIB_LEVEL = 6


def pack(body: str) -> bytes:
    """The body as stored in ``duplicates.body_z``: zlib-compressed UTF-8."""
    return zlib.compress(body.encode("utf-8"), ZLIB_LEVEL)


def unpack(body_z: bytes | None) -> str | None:
    """The body back from ``body_z``; None when the row predates kept bodies."""
    if body_z is None:
        return None
    return zlib.decompress(bytes(body_z)).decode("utf-8")


def word_diff(old: str, new: str, context: int = 6, max_chars: int = 1200) -> list[str]:
    """The changed regions of ``old`` -> ``new``, one line each, words marked inline.

    Each line holds one run of changes (changes closer than twice ``context`` words
    share a line) with up to ``context`` unchanged words either side; ``...`` marks
    text left out. Lines stop once ``max_chars`` characters have been produced, and a
    last line says how many changed regions were not shown. Equal texts give ``[]``.
    """
    a, b = old.split(), new.split()
    groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context)
    lines: list[str] = []
    used = 0
    groups = list(groups)
    for n, group in enumerate(groups):
        parts: list[str] = []
        first, last = group[0], group[-1]
        if first[1] > 0:
            parts.append("...")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                parts.append(" ".join(a[i1:i2]))
                continue
            if tag in ("delete", "replace"):
                parts.append("[-" + " ".join(a[i1:i2]) + "-]")
            if tag in ("insert", "replace"):
                parts.append("{+" + " ".join(b[j1:j2]) + "+}")
        if last[2] < len(a):
            parts.append("...")
        line = " ".join(p for p in parts if p)
        if used and used + len(line) > max_chars:
            lines.append(f"... and {len(groups) - n} more changed region(s) not shown")
            break
        if len(line) > max_chars:
            line = line[: max_chars - 3] + "..."
        lines.append(line)
        used += len(line)
    return lines
