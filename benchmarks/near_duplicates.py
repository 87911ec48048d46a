"""A near-duplicate-heavy news dump built from the shared corpora, as real feeds deliver them.

News dumps repeat stories: an agency re-files a story with a few words
corrected, a site publishes the brief and later the full text, an update adds a
paragraph, another desk re-titles the story and rewrites its lead. The base
stories are BBC and Reuters-21578 texts (Reuters read by the product's own
reader, with the duplicates the corpus already holds); about ``share`` of the
records are generated variants of earlier records (variants of variants
included), in shuffled order with a fixed seed, so any prefix of the dump has
the same mix.

    python benchmarks/near_duplicates.py OUT.jsonl [--records 16000] [--share 0.48] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

CORPORA = REPO.parent / "shared" / "corpora"
KINDS = ("edited_words", "truncated", "update_paragraph", "retitled_lead")
EDIT_WORDS = ["reportedly", "officials", "Tuesday", "sharply", "roughly", "said", "also", "now"]
UPDATES = [
    "The ministry said on Friday it would review the figures and publish a revised estimate "
    "later this month, according to a spokesman who declined to be named.",
    "Analysts said the decision had been widely expected and that markets had already priced "
    "in most of the change before the announcement.",
    "A company spokeswoman declined to comment further on the matter, saying a full statement "
    "would follow after the board meeting next week.",
    "Opposition leaders called for an inquiry, saying the public deserved a clearer account "
    "of how the decision had been reached.",
]
PREFIXES = ["UPDATE 1-", "UPDATE 2-", "WRAPUP-", "CORRECTED-", "FOCUS-", "RPT-"]


def base_stories(limit: int) -> list[dict]:
    """BBC stories, then Reuters-21578 stories read and normalised by the product's reader."""
    from ingest_throughput import bbc_records

    from etl.normalize import normalize_all
    from etl.readers import read_dump
    from etl.records import Article

    out = [r for r in bbc_records() if r["maintext"]]
    for path in sorted((CORPORA / "reuters21578").glob("reut2-*.sgm")):
        if len(out) >= limit:
            break
        for item in normalize_all(read_dump(path), "reuters"):
            if isinstance(item, Article):
                out.append(
                    {
                        "title": item.title,
                        "maintext": item.body,
                        "date_publish": item.published_at.strftime("%Y-%m-%d %H:%M:%S")
                        if item.published_at
                        else None,
                        "source_domain": "reuters.com",
                    }
                )
    return out[:limit]


def _no_figure(word: str) -> bool:
    return not any(ch.isdigit() for ch in word)


def make_variant(kind: str, record: dict, rng: random.Random) -> dict:
    """One variant of ``record``; figures are left alone, as a copy editor would."""
    body = record["maintext"]
    out = dict(record)
    if kind == "edited_words":
        words = body.split(" ")
        spots = [i for i, w in enumerate(words) if _no_figure(w)]
        for i in rng.sample(spots, min(len(spots), rng.randint(1, 5))):
            words[i] = rng.choice(EDIT_WORDS)
        out["maintext"] = " ".join(words)
    elif kind == "truncated":
        words = body.split(" ")
        out["maintext"] = " ".join(words[: max(30, int(len(words) * rng.uniform(0.4, 0.9)))])
    elif kind == "update_paragraph":
        out["maintext"] = body + "\n\n" + rng.choice(UPDATES)
    elif kind == "retitled_lead":
        paras = body.split("\n\n")
        lead = paras[0].split(" ")
        spots = [i for i, w in enumerate(lead) if _no_figure(w)]
        for i in rng.sample(spots, min(len(spots), 2)):
            lead[i] = rng.choice(EDIT_WORDS)
        paras[0] = " ".join(lead)
        out["maintext"] = "\n\n".join(paras)
        out["title"] = rng.choice(PREFIXES) + record["title"]
    else:
        raise ValueError(kind)
    if record.get("date_publish"):
        published = datetime.fromisoformat(record["date_publish"])
        out["date_publish"] = (published + timedelta(hours=rng.randint(1, 30))).strftime("%Y-%m-%d %H:%M:%S")
    return out


def build(records: int, share: float = 0.48, seed: int = 11) -> tuple[list[dict], Counter]:
    """``records`` dump records, about ``share`` of them variants; and the count of each kind."""
    rng = random.Random(seed)
    n_variants = int(records * share)
    bases = base_stories(records - n_variants)
    if len(bases) < records - n_variants:
        raise SystemExit(f"only {len(bases)} base stories under {CORPORA}; lower --records")
    out = list(bases)
    kinds: Counter = Counter()
    for i in range(n_variants):
        kind = KINDS[i % len(KINDS)]
        # mostly variants of a base story, some of an earlier variant (a re-filed update)
        source = rng.choice(out if rng.random() < 0.25 else bases)
        out.append(make_variant(kind, source, rng))
        kinds[kind] += 1
    rng.shuffle(out)
    return out, kinds


def write_dump(path: Path, records: int, share: float = 0.48, seed: int = 11) -> str:
    """Write the dump as JSON Lines; returns a one-line description."""
    rows, kinds = build(records, share, seed)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    variants = sum(kinds.values())
    mix = ", ".join(f"{k} {v:,}" for k, v in kinds.items())
    return f"{len(rows):,} records, {variants:,} variants ({variants / len(rows):.0%}: {mix})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--records", type=int, default=16_000)
    parser.add_argument("--share", type=float, default=0.48)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(write_dump(args.out, args.records, args.share, args.seed))


if __name__ == "__main__":
    main()
