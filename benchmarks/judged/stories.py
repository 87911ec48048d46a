"""The corpora as stories with stable ids, read the way the product reads them.

Ids: ``reuters:NEWID`` (Reuters-21578 through ``etl.readers`` and
``etl.normalize``), ``bbc:category/NNN`` (BBC files read directly),
``tass:<link number>`` (the tass-scraper JSON through ``etl.readers``). Only
stories that normalise to an article (a body, a plausible date) are kept: the
others never reach duplicate detection. Measures use the product's comparison
text (``etl.text.dedup_text``) and word 5-gram shingles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from etl.dedup.shingles import shingles_of
from etl.normalize import clean_body, clean_title, normalize
from etl.readers import read_dump
from etl.records import Article, RawRecord
from etl.text import dedup_text, normalise_for_hash, words

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO.parent / "shared" / "corpora"
SHINGLE = 5
BBC_DUMP = "bbc.jsonl"

_MARKER = r"(?:CORRECTED|CORRECTION|RPT|REPEAT(?:ED)?|UPDATE[SD]?)"
# A marker opens the headline ("CORRECTED - ...", "RPT-...") or stands in brackets
# ("(CORRECTED)", "<CORRECTED>"); "<RPT>" alone is a ticker and "market correction" a noun.
REISSUE_TITLE = re.compile(rf"^\W*{_MARKER}\b(?!>)|\({_MARKER}\)|^<{_MARKER}>", re.IGNORECASE)
# In the body: a bracketed note anywhere ("(Corrects figure)", "(adds details)"), or a
# line at the very start opening with such a word.
REISSUE_NOTE = re.compile(
    r"\(\s*(?:corrected|correction|corrects?|rpt|repeats?|repeated|updates?|updated|adds|adding|recasts)\b",
    re.IGNORECASE,
)
REISSUE_LEAD = re.compile(
    r"^\s*(?:corrected|correction|corrects?|rpt|repeats?|repeated|updates?|adds|adding|recasts)\b",
    re.IGNORECASE | re.MULTILINE,
)
_TITLE_MARKERS = re.compile(
    rf"^\W*(?:[(<]?{_MARKER}[)>]?\s*[-:]*\s*)+|\s*[(<]{_MARKER}[)>]\s*$", re.IGNORECASE
)


@dataclass(slots=True)
class Story:
    """One story with what the pair measures need.

    ``dump`` (a file name) and ``ordinal`` (the record's position in that dump as
    ``etl.readers.read_dump`` numbers it) find the story again in a warehouse.
    """

    id: str
    order: tuple
    dump: str
    ordinal: int
    title: str
    body: str
    compared: str
    date: str | None
    tokens: list[str]
    shingles: set[bytes]
    norm_title: str
    reissue: bool


def _story(sid: str, order: tuple, where: tuple[str, int], title: str, body: str, date: str | None) -> Story:
    compared = dedup_text(body)
    tokens = words(compared)
    base_title = _TITLE_MARKERS.sub("", title).strip()
    return Story(
        id=sid,
        order=order,
        dump=where[0],
        ordinal=where[1],
        title=title,
        body=body,
        compared=compared,
        date=date,
        tokens=tokens,
        shingles=shingles_of(tokens, SHINGLE),
        norm_title=normalise_for_hash(base_title),
        reissue=bool(
            REISSUE_TITLE.search(title) or REISSUE_NOTE.search(body) or REISSUE_LEAD.search(body[:400])
        ),
    )


def reuters_stories() -> list[Story]:
    """Reuters-21578 stories that normalise to an article, read as the product reads them."""
    out = []
    for path in sorted((CORPORA / "reuters21578").glob("reut2-*.sgm")):
        for record in read_dump(path):
            if not isinstance(record, RawRecord):
                continue
            article = normalize(record, "reuters")
            if not isinstance(article, Article):
                continue
            newid = str(record.fields["newid"])
            out.append(
                _story(
                    f"reuters:{newid}",
                    ("reuters", int(newid)),
                    (path.name, record.ordinal),
                    article.title,
                    article.body,
                    record.fields.get("published"),  # type: ignore[arg-type]
                )
            )
    return out


def bbc_stories() -> list[Story]:
    """BBC files: title line, blank line, paragraphs; UTF-8 with a Latin-1 fallback (sport/199).

    Their ``dump`` is ``BBC_DUMP``, the JSON Lines file :func:`write_bbc_jsonl`
    makes of them (the product has no reader for one-story text files).
    """
    out = []
    paths = [p for p in sorted((CORPORA / "bbc").glob("*/*.txt")) if p.stem.isdigit()]
    for ordinal, path in enumerate(paths):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        title, _, body = text.partition("\n")
        category = path.parent.name
        out.append(
            _story(
                f"bbc:{category}/{path.stem}",
                ("bbc", category, int(path.stem)),
                (BBC_DUMP, ordinal),
                clean_title(title),
                clean_body(body),
                None,
            )
        )
    return out


def tass_stories() -> list[Story]:
    """The tass-scraper JSON list, read by the product's reader."""
    out = []
    for path in sorted((CORPORA / "tass-scraper").glob("*.json")):
        for record in read_dump(path):
            if not isinstance(record, RawRecord):
                continue
            article = normalize(record, "tass")
            if not isinstance(article, Article):
                continue
            number = (article.url or "").rstrip("/").rsplit("/", 1)[-1] or str(record.ordinal)
            out.append(
                _story(
                    f"tass:{number}",
                    ("tass", int(number) if number.isdigit() else record.ordinal),
                    (path.name, record.ordinal),
                    article.title,
                    article.body,
                    article.published_at.isoformat() if article.published_at else None,
                )
            )
    return out


def all_stories() -> list[Story]:
    """Reuters-21578, then BBC, then TASS: the order the benchmark ingests them in."""
    return reuters_stories() + bbc_stories() + tass_stories()


def dump_paths(directory: Path, bbc: list[Story]) -> list[Path]:
    """The files to ingest, in order: Reuters SGML as shipped, BBC as JSON Lines, TASS JSON."""
    jsonl = directory / BBC_DUMP
    with jsonl.open("w", encoding="utf-8") as fh:
        for s in sorted(bbc, key=lambda s: s.ordinal):
            fh.write(json.dumps({"title": s.title, "maintext": s.body, "url": s.id}) + "\n")
    return (
        sorted((CORPORA / "reuters21578").glob("reut2-*.sgm"))
        + [jsonl]
        + sorted((CORPORA / "tass-scraper").glob("*.json"))
    )
