"""Score duplicate detection against pairs people read and labelled (``benchmarks/data/judged_pairs.jsonl``).

A pair is predicted "same" when a method puts both stories in one cluster. The
product is run as users run it: every Reuters-21578 SGML file, the BBC stories
(as one JSON Lines dump, see ``stories.dump_paths``) and the TASS JSON ingested
with default settings into one fresh scratch warehouse, then the clusters read
back as stored (a kept article, and the duplicates whose ``duplicate_of`` is it).
On the same pairs: datasketch ``MinHashLSH(threshold=0.8, num_perm=128)`` over
the same shingles (stories inserted in ingest order, a story joins the cluster
of the first stored story it hits), and exact 5-gram Jaccard >= 0.8 decided
pair by pair (not transitively). Pairs labelled "unsure" are counted and left
out of precision and recall.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from datasketch import MinHash, MinHashLSH
from sqlalchemy import select
from stories import Story, dump_paths

from etl.config import DedupConfig, Settings
from etl.dedup.shingles import containment, jaccard, word_similarity
from etl.runner import run_ingest
from etl.warehouse.db import make_engine
from etl.warehouse.models import ArticleRow, Dump, Duplicate

LABELS = ("same", "different", "unsure")


@dataclass(frozen=True, slots=True)
class Judged:
    pair_id: str
    a: str
    b: str
    stratum: str
    label: str
    reason: str


def load_labels(path: Path) -> list[Judged]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            label = str(row.get("label", "")).strip().lower()
            if label not in LABELS:
                raise ValueError(f"{path}:{n}: label must be one of {', '.join(LABELS)}, got {label!r}")
            out.append(
                Judged(row["pair_id"], row["a"], row["b"], row["stratum"], label, row.get("reason") or "")
            )
    return out


# --- methods ------------------------------------------------------------------------------


@dataclass
class ProductRun:
    """Cluster of every story found in the warehouse, and how each dropped one was matched."""

    cluster: dict[str, int]
    match: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)


def product_clusters(stories: list[Story], url: str, tmp: Path, overrides: dict) -> ProductRun:
    """Ingest every corpus with the product into the empty warehouse at ``url``; read the clusters."""
    paths = dump_paths(tmp, [s for s in stories if s.order[0] == "bbc"])
    by_place = {(s.dump, s.ordinal): s.id for s in stories}
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        summary = run_ingest(
            engine, [str(p) for p in paths], settings=Settings(dedup=DedupConfig(**overrides))
        )
        run = ProductRun(cluster={}, seconds=time.perf_counter() - started)
        t = summary.totals
        run.counts.update(
            records=t.records,
            kept=t.articles,
            exact=t.exact_duplicates,
            near=t.near_duplicates,
            rejects=t.rejects,
        )
        with engine.connect() as conn:
            kept = conn.execute(
                select(ArticleRow.id, Dump.location, ArticleRow.ordinal).join(
                    Dump, ArticleRow.dump_id == Dump.id
                )
            )
            for article_id, location, ordinal in kept:
                sid = by_place.get((Path(location).name, ordinal))
                if sid:
                    run.cluster[sid] = article_id
                else:
                    run.counts["unmapped"] += 1
            dropped = conn.execute(
                select(
                    Duplicate.duplicate_of,
                    Dump.location,
                    Duplicate.ordinal,
                    Duplicate.method,
                    Duplicate.measure,
                    Duplicate.similarity,
                ).join(Dump, Duplicate.dump_id == Dump.id)
            )
            for of, location, ordinal, method, measure, similarity in dropped:
                sid = by_place.get((Path(location).name, ordinal))
                if sid:
                    run.cluster[sid] = of
                    run.match[sid] = f"{method}/{measure} {similarity:.2f}"
                else:
                    run.counts["unmapped"] += 1
    finally:
        engine.dispose()
    return run


def datasketch_clusters(stories: list[Story]) -> dict[str, int]:
    """Plain ``MinHashLSH(0.8, 128)``: first stored story hit wins, no verification."""
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    minhashes = MinHash.bulk([sorted(s.shingles) for s in stories], num_perm=128)
    cluster: dict[str, int] = {}
    for key, (s, m) in enumerate(zip(stories, minhashes, strict=True)):
        hits = lsh.query(m)
        if hits:
            cluster[s.id] = cluster[stories[min(hits)].id]
        else:
            cluster[s.id] = key
            lsh.insert(key, m)
    return cluster


def same_cluster(cluster: dict[str, int]) -> Callable[[Judged], bool]:
    """A story missing from the clusters (rejected, say) is in a cluster of its own."""
    return lambda p: p.a in cluster and p.b in cluster and cluster[p.a] == cluster[p.b]


# --- scoring ------------------------------------------------------------------------------


@dataclass
class Tally:
    same: int = 0
    different: int = 0
    unsure: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, label: str, predicted: bool) -> None:
        setattr(self, label, getattr(self, label) + 1)
        if label == "same" and predicted:
            self.tp += 1
        elif label == "same":
            self.fn += 1
        elif label == "different" and predicted:
            self.fp += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)


def tally(pairs: list[Judged], predict: Callable[[Judged], bool]) -> tuple[Tally, dict[str, Tally]]:
    overall, by_stratum = Tally(), defaultdict(Tally)
    for p in pairs:
        predicted = predict(p)
        overall.add(p.label, predicted)
        by_stratum[p.stratum].add(p.label, predicted)
    return overall, dict(by_stratum)


def _f(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "  -  "


def print_report(
    pairs: list[Judged], methods: dict[str, Callable[[Judged], bool]], strata: list[str]
) -> dict[str, Tally]:
    """Counts per stratum, then P/R/F1 overall and per stratum for each method."""
    results = {name: tally(pairs, predict) for name, predict in methods.items()}
    first = next(iter(results.values()))
    overall = first[0]
    print(
        f"{len(pairs)} judged pairs: {overall.same} same, {overall.different} different, "
        f"{overall.unsure} unsure (unsure pairs are left out of precision and recall)\n"
    )
    names = list(methods)
    width = max(len(s) for s in strata + ["overall"])
    head = f"{'stratum':<{width}} {'same':>5} {'diff':>5} {'uns':>4}"
    for name in names:
        head += f" | {name[:26]:^26}"
    print(head)
    print(
        f"{'':<{width}} {'':>5} {'':>5} {'':>4}" + " | {:>8} {:>8} {:>8}".format("P", "R", "F1") * len(names)
    )
    for stratum in strata + ["overall"]:
        row_tallies = [
            results[n][0] if stratum == "overall" else results[n][1].get(stratum, Tally()) for n in names
        ]
        c = row_tallies[0]
        line = f"{stratum:<{width}} {c.same:>5} {c.different:>5} {c.unsure:>4}"
        for t in row_tallies:
            line += f" | {_f(t.precision):>8} {_f(t.recall):>8} {_f(t.f1):>8}"
        print(line)
    print()
    for name in names:
        t = results[name][0]
        print(
            f"{name}: precision {_f(t.precision)}  recall {_f(t.recall)}  F1 {_f(t.f1)}  "
            f"(TP {t.tp}, FP {t.fp}, FN {t.fn})"
        )
    return {name: r[0] for name, r in results.items()}


def print_errors(
    pairs: list[Judged],
    methods: dict[str, Callable[[Judged], bool]],
    stories: dict[str, Story],
    limit: int,
    notes: Callable[[Judged], str] = lambda p: "",
) -> None:
    """False positives (predicted same, read as different) and misses (read as same, not predicted).

    Taken from the strata in turn, so the first few show every kind of error.
    """
    for name, predict in methods.items():
        fps = _interleaved([p for p in pairs if p.label == "different" and predict(p)])
        misses = _interleaved([p for p in pairs if p.label == "same" and not predict(p)])
        print(f"\n{name}: {len(fps)} false positive(s), {len(misses)} miss(es)")
        for kind, items in (("false positive", fps), ("miss", misses)):
            for p in items[:limit]:
                a, b = stories.get(p.a), stories.get(p.b)
                if a is None or b is None:
                    print(f"  {kind} {p.pair_id} [{p.stratum}] {p.a} / {p.b}: story not found")
                    continue
                j, c = jaccard(a.shingles, b.shingles), containment(a.shingles, b.shingles)
                w = word_similarity(a.tokens, b.tokens)
                extra = notes(p) if name.startswith("newsetl") else ""
                print(
                    f"  {kind} {p.pair_id} [{p.stratum}] {p.a} / {p.b}  J={j:.2f} C={c:.2f} W={w:.2f}"
                    f"{'  ' + extra if extra else ''}\n"
                    f"      A: {a.title[:70]}\n      B: {b.title[:70]}\n"
                    f"      reason: {p.reason or '-'}"
                )


def _interleaved(pairs: list[Judged]) -> list[Judged]:
    """One pair of each stratum in turn (strata in order of first appearance)."""
    groups: dict[str, list[Judged]] = {}
    for p in pairs:
        groups.setdefault(p.stratum, []).append(p)
    out: list[Judged] = []
    queues = list(groups.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out
