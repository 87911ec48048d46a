"""Near-duplicate quality: precision and recall against pairs people read, then on synthetic variants.

Headline - the judged set: pairs of real stories (Reuters-21578, BBC, TASS)
mined by ``benchmarks/judged/find_pairs.py`` and labelled "same", "different"
or "unsure" by people reading them (``benchmarks/data/judged_pairs.jsonl``).
The product ingests every corpus with default settings into one fresh scratch
warehouse (SQLite file, or ``--backend postgres``), and a pair is predicted
"same" when both stories ended in one stored cluster. Scored on the same pairs:
datasketch ``MinHashLSH(threshold=0.8, num_perm=128)`` over the same shingles,
and exact 5-gram Jaccard >= 0.8 pair by pair. See ``benchmarks/judged/judged_set.py``.

Second section - synthetic variants, oracle = generated ground truth: a sample
of stories plus generated variants of some (re-formatting, injected related
headlines, a few edited words, an added update paragraph, a truncated ending, a
repeated lead); every variant duplicates its base story. The natural pairs in
that set are labelled by the definition the defaults document
(``etl.config.DedupConfig``), evaluated exactly over every pair sharing a rare
shingle: 5-gram Jaccard >= 0.8, or the smaller story (at least 20 shingles)
>= 90 % contained in the larger, or at least 90 % of the words of both in the
same order (shorter story at least 20 words); and in every case no figure was
changed. That part measures the product against its own rule, which is why the
judged set comes first. The product's ingest (etl.runner.run_ingest, SQLite)
runs over the set in a shuffled but fixed order and its clusters are scored;
plain datasketch MinHashLSH with its defaults (threshold 0.8, 128 permutations,
no verification, first seen wins) is scored in the same run as the baseline.

    python benchmarks/dedup_quality.py [--labels benchmarks/data/judged_pairs.jsonl]
        [--show-errors 10] [--backend sqlite|postgres] [--no-synthetic]
        [--reuters 6000] [--variants 600] [--seed 7] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "judged"))

import judged_set  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402
from ingest_throughput import CORPORA, bbc_records, scratch_warehouse  # noqa: E402
from sqlalchemy import select  # noqa: E402
from stories import all_stories  # noqa: E402

from etl.config import DedupConfig, IngestConfig, Settings  # noqa: E402
from etl.dedup.shingles import containment, features, jaccard, word_similarity  # noqa: E402
from etl.runner import run_ingest  # noqa: E402
from etl.text import dedup_text, normalise_for_hash  # noqa: E402
from etl.warehouse.db import make_engine  # noqa: E402
from etl.warehouse.models import ArticleRow, Duplicate  # noqa: E402

DEFINITION = DedupConfig()  # the oracle labels natural pairs by the documented defaults
SHINGLE = DEFINITION.shingle_size
FIGURES = True  # a pair whose figures differ is two reports, not one story
EDITS = True  # a pair with a few words changed is one story
BUCKETS = ((0.8, 1.01, ">=0.8"), (0.6, 0.8, "0.6-0.8"), (0.4, 0.6, "0.4-0.6"), (0.0, 0.4, "<0.4"))
HEADLINES = [
    "Markets rally as investors weigh rate outlook",
    "Read more: Government unveils new budget plan",
    "Related: Storm disrupts flights across the region",
]


# --- variants ---------------------------------------------------------------------------


def _paras(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()] or [text]


def make_variant(kind: str, body: str, rng: random.Random) -> str:
    paras = _paras(body)
    if kind == "reformatted":
        return "\n\n".join("  " + p.upper().replace(". ", ".  ") for p in paras)
    if kind == "injected_headlines":
        out = list(paras)
        for h in HEADLINES[: max(1, len(out) // 3)]:
            out.insert(rng.randint(1, len(out)), h)
        return "\n\n".join(out)
    if kind == "edited_words":
        words = body.split(" ")
        for _ in range(3):
            i = rng.randrange(len(words))
            words[i] = rng.choice(["reportedly", "officials", "Tuesday", "sharply", "roughly"])
        return " ".join(words)
    if kind == "update_paragraph":
        return (
            body + "\n\n(Updates with a statement from the ministry.) The ministry said on Friday it "
            "would review the figures and publish a revised estimate later this month, "
            "according to a spokesman who declined to be named."
        )
    if kind == "truncated":
        words = body.split(" ")
        return " ".join(words[: max(40, int(len(words) * 0.6))])
    if kind == "repeated_lead":
        return paras[0] + "\n\n" + body
    raise ValueError(kind)


KINDS = (
    "reformatted",
    "injected_headlines",
    "edited_words",
    "update_paragraph",
    "truncated",
    "repeated_lead",
)


# --- the labelled set -------------------------------------------------------------------


def reuters_stories(limit: int) -> list[dict]:
    """Reuters-21578 stories with a body, read by the product's own reader."""
    from etl.normalize import normalize_all
    from etl.readers import read_dump
    from etl.records import Article

    out: list[dict] = []
    for path in sorted((CORPORA / "reuters21578").glob("reut2-*.sgm")):
        for item in normalize_all(read_dump(path), "reuters"):
            if isinstance(item, Article):
                out.append({"title": item.title, "maintext": item.body})
                if len(out) >= limit:
                    return out
    return out


def build(n_reuters: int, n_variants: int, seed: int) -> tuple[list[dict], dict[tuple[int, int], str]]:
    """Documents (with ``key``) and the generated pairs ``(base key, variant key) -> kind``."""
    rng = random.Random(seed)
    base = [r for r in bbc_records() + reuters_stories(n_reuters) if len(r["maintext"].split()) >= 60]
    docs = [{**r, "key": i} for i, r in enumerate(base)]
    generated: dict[tuple[int, int], str] = {}
    for i, src in enumerate(rng.sample(docs, n_variants)):
        kind = KINDS[i % len(KINDS)]
        key = len(docs)
        docs.append(
            {
                **src,
                "title": src["title"] + " (variant)",
                "maintext": make_variant(kind, src["maintext"], rng),
                "key": key,
            }
        )
        generated[(src["key"], key)] = kind
    rng.shuffle(docs)
    return docs, generated


def oracle_pairs(
    texts: dict[int, set[bytes]], max_df: int = 200
) -> dict[tuple[int, int], tuple[float, float]]:
    """Exact Jaccard and containment of every pair sharing a reasonably rare shingle."""
    postings: dict[bytes, list[int]] = defaultdict(list)
    for key, sh in texts.items():
        for s in sh:
            postings[s].append(key)
    pairs: set[tuple[int, int]] = set()
    for keys in postings.values():
        if 1 < len(keys) <= max_df:
            pairs.update(combinations(sorted(keys), 2))
    return {(a, b): (jaccard(texts[a], texts[b]), containment(texts[a], texts[b])) for a, b in pairs}


def is_duplicate(j: float, c: float, a: set, b: set, wa: list[str], wb: list[str]) -> bool:
    """Resemblance, containment or a few edited words, and the same figures."""
    d = DEFINITION
    similar = (
        j >= d.threshold
        or (min(len(a), len(b)) >= d.min_containment_shingles and c >= d.containment)
        or (
            EDITS
            and min(len(wa), len(wb)) >= d.min_edit_words
            and word_similarity(wa, wb) >= d.edit_similarity
        )
    )
    return similar and (not FIGURES or figures_agree(a, b))


def _figures(shingle_set: set[bytes]) -> set[bytes]:
    return {tok for sh in shingle_set for tok in sh.split(b" ") if any(48 <= c <= 57 for c in tok)}


def figures_agree(a: set[bytes], b: set[bytes]) -> bool:
    """The oracle's own figure rule (the definition's): no figure changed on both sides."""
    fa, fb = _figures(a), _figures(b)
    return not (fa - fb and fb - fa)


# --- scoring ----------------------------------------------------------------------------


def clusters_from_product(docs: list[dict], tmp: Path, overrides: dict | None = None) -> dict[int, int]:
    """Ingest with the product; map each doc key to the key of the article it ended in."""
    dump = tmp / "quality.jsonl"
    with dump.open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(
                json.dumps({"title": d["title"], "maintext": d["maintext"], "url": f"k:{d['key']}"}) + "\n"
            )
    engine = make_engine(f"sqlite:///{tmp / 'quality.db'}")
    dedup = DedupConfig(**(overrides or {}))
    settings = Settings(ingest=IngestConfig(batch_size=2000), dedup=dedup)
    run_ingest(engine, [str(dump)], settings=settings, source="quality")
    with engine.connect() as conn:
        kept = {aid: int(url[2:]) for aid, url in conn.execute(select(ArticleRow.id, ArticleRow.url))}
        cluster = {key: key for key in kept.values()}
        for url, of in conn.execute(select(Duplicate.url, Duplicate.duplicate_of)):
            cluster[int(url[2:])] = kept[of]
    engine.dispose()
    return cluster


def clusters_from_datasketch(docs: list[dict], texts: dict[int, set[bytes]]) -> dict[int, int]:
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    cluster: dict[int, int] = {}
    for d in docs:
        m = MinHash(num_perm=128)
        m.update_batch(list(texts[d["key"]]))
        hits = lsh.query(m)
        if hits:
            cluster[d["key"]] = cluster[min(hits)]
        else:
            cluster[d["key"]] = d["key"]
            lsh.insert(d["key"], m)
    return cluster


def score(name: str, cluster: dict[int, int], truth: dict[tuple[int, int], float], kinds: dict) -> dict:
    same = lambda a, b: cluster.get(a, a) == cluster.get(b, b)  # noqa: E731
    members: dict[int, list[int]] = defaultdict(list)
    for key, root in cluster.items():
        members[root].append(key)
    predicted = {tuple(sorted(p)) for m in members.values() for p in combinations(m, 2)}
    tp = sum(1 for p in predicted if p in truth)
    precision = tp / len(predicted) if predicted else 1.0
    recalled = {p for p in truth if same(*p)}
    recall = len(recalled) / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_bucket = {}
    for lo, hi, label in BUCKETS:
        pairs = [p for p, j in truth.items() if lo <= j < hi]
        by_bucket[label] = (
            sum(1 for p in pairs if p in recalled) / len(pairs) if pairs else None,
            len(pairs),
        )
    by_kind = {}
    for kind in KINDS:
        pairs = [p for p, k in kinds.items() if k == kind]
        by_kind[kind] = (sum(1 for p in pairs if p in recalled) / len(pairs) if pairs else None, len(pairs))
    false_pairs = sorted(p for p in predicted if p not in truth)
    missed = sorted(p for p in truth if p not in recalled)
    return {
        "name": name,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "predicted": len(predicted),
        "by_bucket": by_bucket,
        "by_kind": by_kind,
        "false_pairs": false_pairs,
        "missed": missed,
    }


JUDGED = REPO / "benchmarks" / "data" / "judged_pairs.jsonl"
PG_URL = os.environ.get("NEWSETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=JUDGED, help="the judged pairs (JSON Lines)")
    parser.add_argument(
        "--show-errors",
        type=int,
        default=0,
        metavar="N",
        help="print N false positives and N misses per method on the judged set, with the reader's reason",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--pg-url", default=PG_URL, help="admin URL; a scratch database is created and dropped"
    )
    parser.add_argument("--no-judged", action="store_true", help="skip the judged set")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic-variant section")
    parser.add_argument(
        "--reuters", type=int, default=6000, help="synthetic section: Reuters stories to include"
    )
    parser.add_argument("--variants", type=int, default=600, help="synthetic section: generated variants")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a [dedup] setting for the product runs, e.g. --set threshold=0.7 (repeatable)",
    )
    parser.add_argument(
        "--show", type=int, default=5, help="synthetic section: false and missed pairs to print"
    )
    parser.add_argument(
        "--oracle-without-edits",
        action="store_true",
        help="synthetic section: label natural pairs by Jaccard/containment alone, not by word order",
    )
    parser.add_argument(
        "--oracle-ignores-figures",
        action="store_true",
        help="synthetic section: label natural pairs by Jaccard/containment alone, even when figures differ",
    )
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"skipped: {CORPORA} is absent (this benchmark needs the real corpora)")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = tomllib.loads(f"v = {value}")["v"]
    started = time.perf_counter()
    if not args.no_judged:
        judged_section(args, overrides)
    if not args.no_synthetic:
        synthetic_section(args, overrides)
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


def judged_section(args: argparse.Namespace, overrides: dict) -> None:
    """The headline: P/R/F1 against the pairs people read, per stratum, for three methods."""
    print("== judged set: real story pairs, oracle = people reading them ==")
    if not args.labels.is_file():
        print(f"no labels at {args.labels}: the judged set is not scored (write it, or pass --labels)\n")
        return
    pairs = judged_set.load_labels(args.labels)
    started = time.perf_counter()
    stories = all_stories()
    by_id = {s.id: s for s in stories}
    print(f"{len(stories):,} stories read ({time.perf_counter() - started:.1f} s)")
    product_name = "newsetl " + (", ".join(args.set) if args.set else "defaults")
    with tempfile.TemporaryDirectory(prefix="newsetl-judged-") as tmp:
        url, drop = scratch_warehouse(args.backend, args.pg_url, Path(tmp) / "judged.db")
        try:
            run = judged_set.product_clusters(stories, url, Path(tmp), overrides)
        finally:
            drop()
    c = run.counts
    print(
        f"{product_name} ({args.backend}, fresh warehouse): {c['records']:,} records -> {c['kept']:,} kept, "
        f"{c['exact']:,} exact and {c['near']:,} near duplicates, {c['rejects']:,} rejects "
        f"in {run.seconds:.1f} s"
        + (f"; {c['unmapped']} stored rows not matched to a story id" if c["unmapped"] else "")
    )
    t = time.perf_counter()
    lsh = judged_set.datasketch_clusters(stories)
    print(f"datasketch MinHashLSH(0.8, 128) over {len(stories):,} stories in {time.perf_counter() - t:.1f} s")
    missing = sorted({x for p in pairs for x in (p.a, p.b) if x not in run.cluster})
    if missing:
        print(f"{len(missing)} judged stories are not in the warehouse (count as apart): {missing[:5]}")

    def exact_jaccard(p: judged_set.Judged) -> bool:
        a, b = by_id.get(p.a), by_id.get(p.b)
        return a is not None and b is not None and jaccard(a.shingles, b.shingles) >= 0.8

    methods = {
        product_name: judged_set.same_cluster(run.cluster),
        "MinHashLSH(0.8, 128)": judged_set.same_cluster(lsh),
        "exact J>=0.8, pairwise": exact_jaccard,
    }
    seen = []
    for p in pairs:
        if p.stratum not in seen:
            seen.append(p.stratum)
    print()
    judged_set.print_report(pairs, methods, seen)
    if args.show_errors:

        def notes(p: judged_set.Judged) -> str:
            return "; ".join(f"{x} {run.match[x]}" for x in (p.a, p.b) if x in run.match)

        judged_set.print_errors(pairs, methods, by_id, args.show_errors, notes)
    print()


def synthetic_section(args: argparse.Namespace, overrides: dict) -> None:
    """Synthetic variants, oracle = generated ground truth (natural pairs: the documented definition)."""
    global FIGURES, EDITS
    FIGURES = not args.oracle_ignores_figures
    EDITS = not args.oracle_without_edits
    print("== synthetic variants, oracle = generated ground truth ==")
    print(
        "(natural pairs in this set are labelled by the documented definition, the product's own rule; "
        "read the judged set above for quality as people read it)"
    )
    started = time.perf_counter()
    docs, generated = build(args.reuters, args.variants, args.seed)
    compared = {d["key"]: dedup_text(d["maintext"]) for d in docs}
    feats = {key: features(text, SHINGLE) for key, text in compared.items()}
    texts = {key: f.shingles for key, f in feats.items()}
    tokens = {key: f.tokens for key, f in feats.items()}
    hashes = {key: normalise_for_hash(text) for key, text in compared.items()}
    oracle = oracle_pairs(texts)
    truth: dict[tuple[int, int], float] = {}
    for (a, b), (j, c) in oracle.items():
        if hashes[a] == hashes[b] or is_duplicate(j, c, texts[a], texts[b], tokens[a], tokens[b]):
            truth[(a, b)] = j
    kinds: dict[tuple[int, int], str] = {}
    for (a, b), kind in generated.items():
        pair = (min(a, b), max(a, b))
        truth[pair] = jaccard(texts[a], texts[b]) if hashes[a] != hashes[b] else 1.0
        kinds[pair] = kind
    natural = len(truth) - len(kinds)
    print(
        f"labelled set: {len(docs):,} stories ({len(generated)} generated variants), "
        f"{len(truth):,} pairs labelled duplicates ({natural:,} natural, {len(kinds):,} generated); "
        f"oracle over {len(oracle):,} candidate pairs, {time.perf_counter() - started:.1f} s"
    )

    with tempfile.TemporaryDirectory(prefix="newsetl-quality-") as tmp:
        t = time.perf_counter()
        product = score(
            "newsetl " + (", ".join(args.set) if args.set else "defaults"),
            clusters_from_product(docs, Path(tmp), overrides),
            truth,
            kinds,
        )
        product["seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    baseline = score("datasketch MinHashLSH(0.8, 128)", clusters_from_datasketch(docs, texts), truth, kinds)
    baseline["seconds"] = time.perf_counter() - t

    for r in (product, baseline):
        print(
            f"\n{r['name']}: precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}  "
            f"({r['predicted']:,} predicted pairs, {r['seconds']:.1f} s)"
        )
        print(
            "  recall by true 5-gram Jaccard: "
            + ", ".join(
                f"{label} {v:.3f} (n={n})" if v is not None else f"{label} - (n=0)"
                for label, (v, n) in r["by_bucket"].items()
            )
        )
        print(
            "  recall by generated variant:   "
            + ", ".join(
                f"{kind} {v:.3f} (n={n})" if v is not None else f"{kind} -"
                for kind, (v, n) in r["by_kind"].items()
            )
        )
        titles = {d["key"]: d["title"] for d in docs}
        for label, pairs in (("false pair", r["false_pairs"]), ("missed pair", r["missed"])):
            for a, b in pairs[: args.show]:
                j, c = jaccard(texts[a], texts[b]), containment(texts[a], texts[b])
                w = word_similarity(tokens[a], tokens[b])
                kind = kinds.get((a, b), "natural")
                print(
                    f"  {label}: J={j:.2f} C={c:.2f} W={w:.2f} {kind}: "
                    f"{titles[a][:50]!r} / {titles[b][:50]!r}"
                )
    counts = Counter(kinds.values())
    print(f"\nvariants per kind: {dict(counts)}")
    print_banding(DedupConfig(**overrides))


def print_banding(cfg: DedupConfig) -> None:
    """Probability that LSH proposes a pair, by Jaccard: newsetl's body bands vs datasketch's choice."""
    ds = MinHashLSH(threshold=0.8, num_perm=128)
    theirs = DedupConfig(bands=ds.b, rows=ds.r)
    points = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
    print("P(candidate) by Jaccard:  " + "  ".join(f"{j:.1f}" for j in points))
    for label, c in ((f"newsetl {cfg.bands} x {cfg.rows}", cfg), (f"datasketch {ds.b} x {ds.r}", theirs)):
        print(f"  {label:<21}" + "  ".join(f"{c.candidate_probability(j):.2f}" for j in points))
    print(
        f"  (plus newsetl's lead bands, {cfg.lead_bands} x {cfg.lead_rows} over the first "
        f"{cfg.lead_words} words, which propose briefs and their stories whatever their Jaccard)"
    )


if __name__ == "__main__":
    main()
