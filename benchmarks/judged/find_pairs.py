"""Mine candidate story pairs from the real corpora for people to judge: same story or not?

The judged set measures duplicate detection against reading rather than against
the product's own rule, so candidates are found with measures that do not depend
on that rule and cover pairs it would never propose (low resemblance, same
headline with different text, corrected re-issues). Stories are read as the
product reads them: Reuters-21578 through ``etl.readers`` + ``etl.normalize``
(ids ``reuters:NEWID``), BBC files directly (title line, blank line, paragraphs;
ids ``bbc:category/NNN``), the tass-scraper JSON through ``etl.readers``
(ids ``tass:<link number>``). Measures are taken on the product's comparison
text (``etl.text.dedup_text``): word 5-gram shingle Jaccard and containment of
the smaller set (see ``stories.py``).

Candidates: every pair sharing a rare shingle (document frequency <= ``--max-df``),
every pair with the same normalised title, and each re-issue with its likeliest
original. Each pair goes to the first stratum it fits, in ``STRATA`` order, and
each stratum is sampled deterministically (``--seed``), spread over its range.

    python benchmarks/judged/find_pairs.py [--out benchmarks/data/candidate_pairs.jsonl]
        [--packets DIR] [--seed 20261129]

Writes the candidates as JSON Lines (metadata only, no article text) and, with
``--packets``, six Markdown reading packets holding the full bodies.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stories import CORPORA, Story, all_stories  # noqa: E402

from etl.dedup.shingles import containment, jaccard  # noqa: E402
from etl.text import normalise_for_hash  # noqa: E402

PACKETS = 6
PACKET_WORDS = 600
TOTAL = 720
PER_HEADLINE = 3

# (name, target count, cap on pairs with byte-identical bodies), in assignment order:
# the specific strata first, then the plain Jaccard bands.
STRATA: tuple[tuple[str, int, int], ...] = (
    ("reissue", 100, 6),
    ("bbc", 80, 14),
    ("figures_or_names_differ", 100, 0),
    ("j_ge_0.8", 80, 20),
    ("j_0.6_0.8", 100, 2),
    ("j_0.3_0.6_high_containment", 80, 1),
    ("j_0.3_0.6_low_containment", 80, 1),
    ("same_title_low_j", 100, 0),
)
# Where in its stratum a pair is spread by: (measure, low, high).
SPREAD: dict[str, tuple[str, float, float]] = {
    "reissue": ("jaccard", 0.0, 1.0),
    "bbc": ("jaccard", 0.0, 1.0),
    "figures_or_names_differ": ("jaccard", 0.5, 1.0),
    "j_ge_0.8": ("jaccard", 0.8, 1.0),
    "j_0.6_0.8": ("jaccard", 0.6, 0.8),
    "j_0.3_0.6_high_containment": ("jaccard", 0.3, 0.6),
    "j_0.3_0.6_low_containment": ("containment", 0.0, 0.8),
    "same_title_low_j": ("jaccard", 0.0, 0.3),
}

_CASED_WORD = re.compile(r"\w+")


# --- candidates ---------------------------------------------------------------------------


def shingle_candidates(stories: list[Story], max_df: int) -> set[tuple[int, int]]:
    """Index pairs sharing at least one shingle found in at most ``max_df`` stories."""
    postings: dict[bytes, list[int]] = defaultdict(list)
    for i, s in enumerate(stories):
        for sh in s.shingles:
            postings[sh].append(i)
    pairs: set[tuple[int, int]] = set()
    for ids in postings.values():
        if 1 < len(ids) <= max_df:
            pairs.update(combinations(ids, 2))
    return pairs


def title_candidates(stories: list[Story]) -> set[tuple[int, int]]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(stories):
        if s.norm_title:
            groups[(s.order[0], s.norm_title)].append(i)
    return {p for ids in groups.values() for p in combinations(ids, 2)}


def _cased_tokens(text: str) -> list[str]:
    return _CASED_WORD.findall(unicodedata.normalize("NFKC", text))


def _is_figure_or_name(token: str) -> bool:
    return any(c.isdigit() for c in token) or token[:1].isupper()


def figures_or_names_only(a: Story, b: Story) -> bool:
    """The compared texts differ, and only in tokens that are numbers or capitalised words."""
    ta, tb = _cased_tokens(a.compared), _cased_tokens(b.compared)
    if [t.casefold() for t in ta] == [t.casefold() for t in tb]:
        return False
    differing = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if op != "equal":
            differing += ta[i1:i2] + tb[j1:j2]
    return bool(differing) and all(_is_figure_or_name(t) for t in differing)


@dataclass(slots=True)
class Pair:
    a: Story
    b: Story
    jaccard: float
    containment: float
    stratum: str = ""

    @property
    def identical(self) -> bool:
        return self.a.body == self.b.body


def make_pair(x: Story, y: Story) -> Pair:
    a, b = (x, y) if x.order <= y.order else (y, x)
    return Pair(a, b, jaccard(a.shingles, b.shingles), containment(a.shingles, b.shingles))


def stratum_of(p: Pair) -> str | None:
    """The first stratum a (non-reissue) pair fits, in ``STRATA`` order."""
    j, c = p.jaccard, p.containment
    same_title = p.a.norm_title and p.a.norm_title == p.b.norm_title
    if p.a.order[0] == "bbc" and p.b.order[0] == "bbc":
        return "bbc" if j >= 0.3 or same_title else None
    if j >= 0.5 and not p.identical and figures_or_names_only(p.a, p.b):
        return "figures_or_names_differ"
    if j >= 0.8:
        return "j_ge_0.8"
    if j >= 0.6:
        return "j_0.6_0.8"
    if j >= 0.3:
        return "j_0.3_0.6_high_containment" if c >= 0.8 else "j_0.3_0.6_low_containment"
    if same_title:
        return "same_title_low_j"
    return None


def title_similarity(a: Story, b: Story) -> float:
    """Word-set Jaccard of the headlines with re-issue markers removed; 0 unless they open alike.

    "DASA CORP YEAR NET" and "TRANSALTA UTILITIES CORP YEAR NET" share half their
    words and nothing else: a headline names its subject first.
    """
    wa, wb = a.norm_title.split(), b.norm_title.split()
    if not wa or not wb or wa[0] != wb[0]:
        return 0.0
    sa, sb = set(wa), set(wb)
    return len(sa & sb) / len(sa | sb)


def reissue_pairs(stories: list[Story], neighbours: dict[int, set[int]]) -> list[Pair]:
    """Each re-issue (corrected, repeated, updated) with its likeliest original.

    Looked for among the stories sharing a rare shingle or the headline, and among
    all stories of the same corpus whose headline opens alike and shares half its
    words. The original is the one with the highest max(Jaccard, containment) plus
    half the headline similarity, an earlier story preferred on ties; it must share
    something real: containment >= 0.3 over at least 5 shingles, or such a headline.
    """
    out = []
    for i, s in enumerate(stories):
        if not s.reissue:
            continue
        pool = set(neighbours.get(i, ()))
        pool.update(
            k
            for k, o in enumerate(stories)
            if k != i and o.order[0] == s.order[0] and title_similarity(s, o) >= 0.5
        )
        best, best_score = None, 0.0
        for k in sorted(pool):
            o = stories[k]
            j, c = jaccard(s.shingles, o.shingles), containment(s.shingles, o.shingles)
            shared = len(s.shingles & o.shingles)
            titles = title_similarity(s, o)
            if (c < 0.3 or shared < 5) and titles < 0.5:
                continue
            score = max(j, c) + 0.5 * titles + (0.01 if o.order < s.order else 0.0)
            if score > best_score:
                best, best_score = k, score
        if best is not None:
            pair = make_pair(s, stories[best])
            pair.stratum = "reissue"
            out.append(pair)
    return out


# --- sampling -----------------------------------------------------------------------------


def spread_sample(
    pairs: list[Pair], n: int, measure: Callable[[Pair], float], lo: float, hi: float, rng: random.Random
) -> list[Pair]:
    """Up to ``n`` pairs spread over [lo, hi]: equal shares from ten equal-width bins, leftovers refilled."""
    bins: list[list[Pair]] = [[] for _ in range(10)]
    width = (hi - lo) / 10 or 1.0
    for p in pairs:
        bins[min(9, max(0, int((measure(p) - lo) / width)))].append(p)
    for b in bins:
        rng.shuffle(b)
    chosen: list[Pair] = []
    while len(chosen) < n and any(bins):
        for b in bins:
            if b and len(chosen) < n:
                chosen.append(b.pop())
    return chosen


def by_group(pairs: list[Pair], rng: random.Random) -> list[list[Pair]]:
    """Pairs in rounds: one per headline of the earlier story, then a second, then a third.

    Template stories ("FED ADDS RESERVES VIA CUSTOMER REPURCHASES", dividend and
    earnings notices) pair with dozens of others; past ``PER_HEADLINE`` pairs a
    headline adds nothing to read, so the rest are left out.
    """
    groups: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        groups[p.a.norm_title or p.a.id].append(p)
    rounds: list[list[Pair]] = [[] for _ in range(PER_HEADLINE)]
    for k in sorted(groups):
        g = groups[k]
        rng.shuffle(g)
        for level, p in enumerate(g[:PER_HEADLINE]):
            rounds[level].append(p)
    return rounds


def rank_stratum(name: str, identical_cap: int, pairs: list[Pair], rng: random.Random) -> list[Pair]:
    """The stratum's pairs in sampling order: any prefix is a spread sample of that size.

    At most ``identical_cap`` pairs with byte-identical bodies (one per group of
    identical bodies) come first; then the others round by round (see
    :func:`by_group`), each round spread over the stratum's range.
    """
    measure_name, lo, hi = SPREAD[name]
    measure = (lambda p: p.jaccard) if measure_name == "jaccard" else (lambda p: p.containment)
    pairs = sorted(pairs, key=lambda p: (p.a.order, p.b.order))
    groups: dict[str, Pair] = {}
    for p in pairs:
        if p.identical:
            groups.setdefault(normalise_for_hash(p.a.body), p)
    ranked = list(groups.values())
    rng.shuffle(ranked)
    ranked = ranked[:identical_cap]
    for level in by_group([p for p in pairs if not p.identical], rng):
        ranked += spread_sample(level, len(level), measure, lo, hi, rng)
    return ranked


def sample(by_stratum: dict[str, list[Pair]], total: int, rng: random.Random) -> list[Pair]:
    """Each stratum's target; strata short of pairs leave room that the others fill in turn."""
    ranked = {name: rank_stratum(name, cap, by_stratum[name], rng) for name, _, cap in STRATA}
    taken = {name: min(target, len(ranked[name])) for name, target, _ in STRATA}
    while sum(taken.values()) < total:
        grew = False
        for name, _, _ in STRATA:
            if taken[name] < len(ranked[name]) and sum(taken.values()) < total:
                taken[name] += 1
                grew = True
        if not grew:
            break
    return [p for name, _, _ in STRATA for p in ranked[name][: taken[name]]]


# --- output -------------------------------------------------------------------------------


def record_of(pair_id: str, p: Pair) -> dict:
    return {
        "pair_id": pair_id,
        "a": p.a.id,
        "b": p.b.id,
        "stratum": p.stratum,
        "jaccard": round(p.jaccard, 4),
        "containment": round(p.containment, 4),
        "a_date": p.a.date,
        "b_date": p.b.date,
        "a_title": p.a.title,
        "b_title": p.b.title,
    }


def _clip(body: str) -> str:
    tokens = body.split(" ")
    n = len(body.split())
    if n <= PACKET_WORDS:
        return body
    kept, count = [], 0
    for t in tokens:
        kept.append(t)
        count += len(t.split())
        if count >= PACKET_WORDS:
            break
    return " ".join(kept) + f"\n\n[... {n - PACKET_WORDS} more words]"


def word_diff(a: str, b: str, max_ops: int = 15, max_words: int = 14) -> list[str]:
    """Short word-level diff of two bodies: what A has that B does not, and the reverse."""
    ta, tb = a.split(), b.split()
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    ops = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    same = sum(size for _, _, size in matcher.get_matching_blocks())
    lines = [f"{same} of {len(ta)} (A) / {len(tb)} (B) words shared in order; {len(ops)} differing spans"]

    def short(ws: list[str]) -> str:
        text = " ".join(ws[:max_words])
        return text + (f" ...(+{len(ws) - max_words} words)" if len(ws) > max_words else "")

    for tag, i1, i2, j1, j2 in ops[:max_ops]:
        if tag == "replace":
            lines.append(f"A: `{short(ta[i1:i2])}` -> B: `{short(tb[j1:j2])}`")
        elif tag == "delete":
            lines.append(f"only A: `{short(ta[i1:i2])}`")
        else:
            lines.append(f"only B: `{short(tb[j1:j2])}`")
    if len(ops) > max_ops:
        lines.append(f"... {len(ops) - max_ops} more differing spans")
    return lines


def render(pair_id: str, p: Pair) -> str:
    diff = "\n".join(f"- {line}" for line in word_diff(p.a.body, p.b.body))
    return (
        f"## {pair_id}  ({p.stratum})\n\n"
        f"Jaccard {p.jaccard:.2f}, containment {p.containment:.2f}\n\n"
        f"**A** `{p.a.id}`  date {p.a.date or '-'}  \n**A title:** {p.a.title}\n\n"
        f"**B** `{p.b.id}`  date {p.b.date or '-'}  \n**B title:** {p.b.title}\n\n"
        f"### Word diff (A -> B)\n\n{diff}\n\n"
        f"### A body\n\n{_clip(p.a.body)}\n\n"
        f"### B body\n\n{_clip(p.b.body)}\n\n"
        "**Label** (same / different / unsure): \n**Reason:** \n\n---\n\n"
    )


def write_packets(directory: Path, numbered: list[tuple[str, Pair]]) -> None:
    """Six packets, each with a share of every stratum, strata interleaved within a packet."""
    directory.mkdir(parents=True, exist_ok=True)
    by_stratum: dict[str, list[tuple[str, Pair]]] = defaultdict(list)
    for item in numbered:
        by_stratum[item[1].stratum].append(item)
    packets: list[list[list[tuple[str, Pair]]]] = [[] for _ in range(PACKETS)]
    offset = 0
    for name, _, _ in STRATA:
        items = by_stratum.get(name, [])
        shares: list[list[tuple[str, Pair]]] = [[] for _ in range(PACKETS)]
        for k, item in enumerate(items):
            shares[(offset + k) % PACKETS].append(item)
        offset += len(items)
        for packet, share in zip(packets, shares, strict=True):
            packet.append(share)
    for number, strata in enumerate(packets, start=1):
        ordered = []
        while any(strata):
            for share in strata:
                if share:
                    ordered.append(share.pop(0))
        header = (
            f"# Reading packet {number} of {PACKETS}: {len(ordered)} pairs\n\n"
            "For each pair: would a news reader want both, or is one enough because they "
            "tell the same story? Label `same`, `different` or `unsure`, with a short reason.\n\n---\n\n"
        )
        text = header + "".join(render(pid, p) for pid, p in ordered)
        (directory / f"packet-{number}.md").write_text(text, encoding="utf-8")


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "data" / "candidate_pairs.jsonl")
    parser.add_argument("--packets", type=Path, help="write the six reading packets to this folder")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--total", type=int, default=TOTAL, help="pairs to choose in all")
    parser.add_argument("--max-df", type=int, default=60, help="a shingle in more stories is not 'rare'")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not CORPORA.is_dir():
        sys.exit(f"{CORPORA} is absent: the candidate pairs come from the real corpora")

    started = time.perf_counter()
    stories = all_stories()
    print(f"{len(stories):,} stories read in {time.perf_counter() - started:.1f} s")
    candidates = shingle_candidates(stories, args.max_df) | title_candidates(stories)
    print(f"{len(candidates):,} candidate pairs ({time.perf_counter() - started:.1f} s)")
    neighbours: dict[int, set[int]] = defaultdict(set)
    for i, k in candidates:
        neighbours[i].add(k)
        neighbours[k].add(i)

    by_stratum: dict[str, list[Pair]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for p in reissue_pairs(stories, neighbours):
        if (p.a.id, p.b.id) not in seen:
            seen.add((p.a.id, p.b.id))
            by_stratum["reissue"].append(p)
    for i, k in sorted(candidates):
        x, y = stories[i], stories[k]
        if x.order[0] != y.order[0]:
            continue
        p = make_pair(x, y)
        if (p.a.id, p.b.id) in seen:
            continue
        if p.jaccard < 0.3 and not (p.a.norm_title and p.a.norm_title == p.b.norm_title):
            continue
        name = stratum_of(p)
        if name:
            p.stratum = name
            by_stratum[name].append(p)
    print("pairs found per stratum: " + ", ".join(f"{n} {len(by_stratum[n]):,}" for n, _, _ in STRATA))

    chosen = sample(by_stratum, args.total, random.Random(args.seed))
    order = {name: i for i, (name, _, _) in enumerate(STRATA)}
    chosen.sort(key=lambda p: (order[p.stratum], p.a.order, p.b.order))
    numbered = [(f"p{i:04d}", p) for i, p in enumerate(chosen, start=1)]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for pid, p in numbered:
            fh.write(json.dumps(record_of(pid, p), ensure_ascii=False) + "\n")
    counts = Counter(p.stratum for p in chosen)
    identical = sum(1 for p in chosen if p.identical)
    print(
        f"{len(chosen)} pairs written to {args.out} ({identical} with byte-identical bodies): "
        + ", ".join(f"{n} {counts[n]}" for n, _, _ in STRATA)
    )
    if args.packets:
        write_packets(args.packets, numbered)
        print(f"packets written to {args.packets}")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
