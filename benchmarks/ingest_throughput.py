"""Ingest throughput: records/s against the floor, RSS and time per stage.

Default (``--dataset near-duplicates``): what users feed it. A ~16,000-record
dump built from the shared corpora with about 48 % near-duplicate variants
(edited words, truncations, updates with an added paragraph, re-titled leads;
see benchmarks/near_duplicates.py) goes into a scratch Postgres warehouse with
the CLI's default settings (etl.runner.run_ingest: prepare workers, batch
2,000), twice: the whole dump and its first half. benchmarks/floor.py takes the
same rows through the floor (JSON parse + 5-gram shingles + bulk 128-permutation
MinHash + binary COPY, one process) in the same run. Printed: records/s, the
whole ratio (full run / full floor) and the marginal ratio ((full - half) run /
(full - half) floor, which leaves out fixed costs such as start-up and the
first, empty-index batch), peak RSS of the loader and the prepare worker, and
the time per stage.

    python benchmarks/ingest_throughput.py [--records 16000] [--share 0.48] [--batch-size 2000] [--repeat 2]
        [--workers N] [--set KEY=VALUE ...]

``--dataset corpora`` is the earlier mode: builds one JSON Lines dump of N
records (default 20,000) from the real BBC and Reuters-21578 stories in
../shared/corpora when present (their natural duplicates included), topped up or
replaced by synthetic stories otherwise, then ingests it with
etl.runner.run_ingest, the same prepare/load functions the CLI's Prefect tasks
call, timing each stage. The baseline in the same run is the read+parse
floor (reader and normalisation only). Finally the same dump goes through the
Prefect flow itself, to show the orchestration overhead.

    python benchmarks/ingest_throughput.py --dataset corpora [--records 20000] [--batch-size 2000]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--no-flow]

Prints a table; numbers depend on the machine (2 cores here).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import sys
import tempfile
import time
import tomllib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from etl.config import DedupConfig, IngestConfig, Settings  # noqa: E402
from etl.normalize import normalize_all  # noqa: E402
from etl.parallel import resolve_workers  # noqa: E402
from etl.pipeline import load_prepared  # noqa: E402
from etl.readers import read_dump  # noqa: E402
from etl.runner import run_ingest  # noqa: E402
from etl.warehouse.db import make_engine  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- building the dump --------------------------------------------------------------------


def reuters_records() -> list[dict]:
    out = []
    for path in sorted((CORPORA / "reuters21578").glob("reut2-*.sgm")):
        text = path.read_text(encoding="latin-1")
        for block in re.findall(r"<REUTERS.*?</REUTERS>", text, flags=re.S):
            body = re.search(r"<BODY>(.*?)</BODY>", block, flags=re.S)
            if not body:
                continue
            title = re.search(r"<TITLE>(.*?)</TITLE>", block, flags=re.S)
            date = re.search(r"<DATE>\s*(.*?)\s*</DATE>", block, flags=re.S)
            try:
                published = datetime.strptime(date.group(1)[:20], "%d-%b-%Y %H:%M:%S")
            except (AttributeError, ValueError):
                published = None
            clean = html.unescape(re.sub(r"&#\d+;", "", body.group(1))).strip()
            out.append(
                {
                    "title": html.unescape(title.group(1)).strip() if title else "",
                    "maintext": clean,
                    "date_publish": published.isoformat(sep=" ") if published else None,
                    "source_domain": "reuters.com",
                }
            )
    return out


def bbc_records() -> list[dict]:
    out = []
    for path in sorted((CORPORA / "bbc").glob("*/*.txt")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        title, _, body = text.partition("\n")
        out.append({"title": title.strip(), "maintext": body.strip(), "source_domain": "bbc.co.uk"})
    return out


WORDS = [
    "government",
    "minister",
    "talks",
    "agreement",
    "market",
    "prices",
    "energy",
    "officials",
    "report",
    "week",
    "city",
    "council",
    "plan",
    "budget",
    "election",
    "vote",
    "party",
    "leader",
    "court",
    "ruling",
    "police",
    "investigation",
    "company",
    "shares",
    "profit",
    "quarter",
    "bank",
    "rates",
    "inflation",
    "exports",
    "trade",
    "deal",
    "summit",
    "president",
    "parliament",
]


def synthetic_record(i: int) -> dict:
    rng = random.Random(i)
    sentences = [
        " ".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(rng.randint(12, 22))) + "."
        for _ in range(rng.randint(12, 30))
    ]
    return {"title": f"Synthetic story {i}", "maintext": " ".join(sentences), "source_domain": "synthetic"}


def build_dump(path: Path, n: int) -> str:
    records: list[dict] = []
    origin = "synthetic"
    if CORPORA.is_dir():
        records = bbc_records() + reuters_records()
        origin = f"BBC + Reuters-21578 from {CORPORA}"
    if len(records) < n:
        records += [synthetic_record(i) for i in range(n - len(records))]
        if origin != "synthetic":
            origin += " + synthetic top-up"
    records = records[:n]
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return origin


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Stage:
    seconds: float = 0.0
    docs: int = 0
    rss_max: float = 0.0
    rss_samples: list[float] = field(default_factory=list)

    def add(self, seconds: float, docs: int) -> None:
        self.seconds += seconds
        self.docs += docs
        rss = rss_mb()
        self.rss_max = max(self.rss_max, rss)
        self.rss_samples.append(rss)

    @property
    def rate(self) -> float:
        return self.docs / self.seconds if self.seconds else 0.0


def read_parse_baseline(dump: Path) -> Stage:
    stage = Stage()
    started = time.perf_counter()
    count = sum(1 for _ in normalize_all(read_dump(dump, "jsonl"), "bench"))
    stage.add(time.perf_counter() - started, count)
    return stage


def worker_rss_mb() -> float:
    """Current RSS of the prepare worker processes (they are not in this process's RSS)."""
    from etl.parallel import _POOLS

    total = 0.0
    for pool in _POOLS.values():
        for pid in list(getattr(pool, "_processes", {}) or {}):
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * PAGE / 2**20
            except OSError:
                pass
    return total


def instrumented_run(url: str, dump: Path, settings: Settings) -> tuple[dict[str, Stage], object]:
    """run_ingest with the default stage functions, timing each; prepare time comes from the batch."""
    stages = {"prepare (parse+normalise+MinHash)": Stage(), "load (dedup+bulk insert)": Stage()}
    prep, load = stages.values()
    worker_peak = 0.0

    def timed_load(engine, batch, **kw):
        nonlocal worker_peak
        t = time.perf_counter()
        counts = load_prepared(engine, batch, **kw)
        load.add(time.perf_counter() - t, len(batch))
        prep.add(batch.seconds, len(batch))
        worker_peak = max(worker_peak, worker_rss_mb())
        return counts

    engine = make_engine(url)
    started = time.perf_counter()
    summary = run_ingest(engine, [str(dump)], settings=settings, source="bench", load=timed_load)
    total = Stage()
    total.add(time.perf_counter() - started, summary.totals.records)
    total.rss_max = max(prep.rss_max, load.rss_max) + worker_peak
    stages["total (run_ingest)"] = total
    stages["  of which prepare workers' RSS"] = Stage(rss_max=worker_peak)
    engine.dispose()
    return stages, summary


def flow_run(url: str, dump: Path, config: Path) -> tuple[float, object]:
    from flows import use_local_server_defaults

    use_local_server_defaults()  # as the CLI does
    from flows.ingest import ingest

    started = time.perf_counter()
    summary = ingest(locations=[str(dump)], db_url=url, config_path=str(config))
    return time.perf_counter() - started, summary


def scratch_warehouse(backend: str, pg_admin_url: str, sqlite_path: Path) -> tuple[str, callable]:
    """A fresh, empty warehouse URL for one run, and how to drop it afterwards."""
    if backend == "postgres":
        return create_pg_database(pg_admin_url)
    return f"sqlite:///{sqlite_path}", lambda: None


def create_pg_database(admin_url: str) -> tuple[str, callable]:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"newsetl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = admin.set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), drop


# --- the near-duplicate-heavy run against the floor ----------------------------------------


class StageClock:
    """Seconds per stage of run_ingest: prepare steps from each batch, loader steps by wrapping.

    The loader's steps are timed by swapping the module attributes ``etl.steps.read_dump``
    and ``etl.warehouse.load.match_batch`` for timed versions (restored on exit): the
    product code stays as it is, and the same functions run.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.loader_rss: list[float] = []
        self.worker_rss = 0.0

    def __enter__(self) -> StageClock:
        import etl.steps
        import etl.warehouse.load

        self._saved = (etl.steps.read_dump, etl.warehouse.load.match_batch)
        read, match = self._saved
        clock = self.seconds

        def timed_read(*args, **kwargs):
            it = iter(read(*args, **kwargs))
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    clock["read (parse JSON)"] += time.perf_counter() - t
                    return
                clock["read (parse JSON)"] += time.perf_counter() - t
                yield item

        def timed_match(*args, **kwargs):
            t = time.perf_counter()
            try:
                return match(*args, **kwargs)
            finally:
                clock["match (lookups + verify)"] += time.perf_counter() - t

        etl.steps.read_dump = timed_read
        etl.warehouse.load.match_batch = timed_match
        return self

    def __exit__(self, *exc) -> None:
        import etl.steps
        import etl.warehouse.load

        etl.steps.read_dump, etl.warehouse.load.match_batch = self._saved

    def load(self, engine, batch, **kw):
        """The LoadFn: load_prepared, timed; collects the batch's prepare steps."""
        for name, secs in batch.stages.items():
            self.seconds[f"prepare: {name}"] += secs
        t = time.perf_counter()
        counts = load_prepared(engine, batch, **kw)
        self.seconds["load (lock + match + COPY + ledger)"] += time.perf_counter() - t
        self.loader_rss.append(rss_mb())
        self.worker_rss = max(self.worker_rss, worker_rss_mb())
        return counts


def timed_ingest(url: str, dump: Path, settings: Settings) -> tuple[float, StageClock, object]:
    engine = make_engine(url)
    try:
        with StageClock() as clock:
            started = time.perf_counter()
            summary = run_ingest(engine, [str(dump)], settings=settings, source="bench", load=clock.load)
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return seconds, clock, summary


def near_duplicate_run(args: argparse.Namespace) -> None:
    from floor import run_floor
    from near_duplicates import write_dump

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = tomllib.loads(f"v = {value}")["v"]
    settings = replace(
        Settings(),
        ingest=IngestConfig(batch_size=args.batch_size, workers=args.workers),
        dedup=DedupConfig(**overrides),
    )
    with tempfile.TemporaryDirectory(prefix="newsetl-bench-") as tmp:
        full = Path(tmp) / "near-duplicates.jsonl"
        print("dump: " + write_dump(full, args.records, args.share, args.seed))
        lines = full.read_bytes().splitlines(keepends=True)
        half = Path(tmp) / "first-half.jsonl"
        half.write_bytes(b"".join(lines[: len(lines) // 2]))
        sizes = {"full": len(lines), "half": len(lines) // 2}
        del lines
        workers = resolve_workers(settings.ingest.workers)
        print(
            f"{full.stat().st_size / 2**20:.1f} MiB; Postgres, settings (batch {args.batch_size:,}, "
            f"{workers} prepare worker(s)"
            + "".join(f", {item}" for item in args.set)
            + f"); half = the first {sizes['half']:,} records\n"
        )
        # Each measurement is the best of --repeat. A round takes the floor of both sizes first,
        # then the product's runs: the floor never follows a scratch database's drop (its I/O
        # would slow the floor and flatter the ratio), and load from other work on the machine
        # weighs on both alike.
        floor: dict[str, float] = {}
        run: dict[str, float] = {}
        clocks, summaries = {}, {}
        sizes_paths = (("half", half), ("full", full))
        for _ in range(args.repeat):
            for label, path in sizes_paths:
                seconds = run_floor(path, args.pg_url, args.batch_size)
                floor[label] = min(floor.get(label, float("inf")), seconds)
            for label, path in sizes_paths:
                url, drop = scratch_warehouse("postgres", args.pg_url, Path(tmp) / "unused.db")
                try:
                    seconds, clock, summary = timed_ingest(url, path, settings)
                finally:
                    drop()
                if seconds < run.get(label, float("inf")):
                    run[label], clocks[label], summaries[label] = seconds, clock, summary
        print(f"best of {args.repeat} run(s) each")
        print(
            f"{'':<6} {'records':>8} {'floor s':>8} {'floor rec/s':>12} "
            f"{'newsetl s':>10} {'rec/s':>8} {'ratio':>6}"
        )
        for label in ("half", "full"):
            n = sizes[label]
            print(
                f"{label:<6} {n:>8,} {floor[label]:>8.2f} {n / floor[label]:>12,.0f} {run[label]:>10.2f} "
                f"{n / run[label]:>8,.0f} {run[label] / floor[label]:>5.1f}x"
            )
        extra = sizes["full"] - sizes["half"]
        marginal_floor = floor["full"] - floor["half"]
        marginal_run = run["full"] - run["half"]
        print(
            f"\nwhole:    {sizes['full'] / run['full']:,.0f} records/s, "
            f"{run['full'] / floor['full']:.2f}x the floor"
            f"\nmarginal: {extra / marginal_run:,.0f} records/s (floor {extra / marginal_floor:,.0f}), "
            f"{marginal_run / marginal_floor:.2f}x the floor"
        )
        t = summaries["full"].totals
        print(
            f"decisions (full): kept {t.articles:,}, exact dups {t.exact_duplicates:,}, "
            f"near dups {t.near_duplicates:,}, rejects {t.rejects:,}"
        )
        for label in ("half", "full"):
            c = clocks[label]
            print(
                f"peak RSS ({label}): loader {max(c.loader_rss):.0f} MiB + prepare worker "
                f"{c.worker_rss:.0f} MiB; loader by batch: " + ", ".join(f"{x:.0f}" for x in c.loader_rss)
            )
        print("\ntime per stage, full run (prepare steps run in the worker, beside the loader):")
        for name, secs in sorted(clocks["full"].seconds.items()):
            print(f"  {name:<38} {secs:>7.2f} s  {sizes['full'] / secs if secs else 0:>9,.0f} records/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("near-duplicates", "corpora"), default="near-duplicates")
    parser.add_argument("--records", type=int, default=None, help="default 16,000 (corpora: 20,000)")
    parser.add_argument("--share", type=float, default=0.48, help="near-duplicates: share of variants")
    parser.add_argument("--seed", type=int, default=11, help="near-duplicates: generator seed")
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=2, help="near-duplicates: best of N runs each")
    parser.add_argument(
        "--workers", type=int, default=-1, help="near-duplicates: prepare workers (-1 = auto)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="near-duplicates: override a [dedup] setting, e.g. --set hashfunc='\"words\"' (repeatable)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "NEWSETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL; a scratch database is created and dropped",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-flow", action="store_true", help="skip the Prefect flow runs")
    args = parser.parse_args()
    if args.dataset == "near-duplicates":
        args.records = args.records or 16_000
        near_duplicate_run(args)
        return
    args.records = args.records or 20_000

    settings = replace(Settings(), ingest=IngestConfig(batch_size=args.batch_size))
    with tempfile.TemporaryDirectory(prefix="newsetl-bench-") as tmp:
        tmpdir = Path(tmp)
        dump = tmpdir / "bench.jsonl"
        origin = build_dump(dump, args.records)
        config = tmpdir / "newsetl.toml"
        config.write_text(f"[ingest]\nbatch_size = {args.batch_size}\n", encoding="utf-8")
        size_mb = dump.stat().st_size / 2**20
        print(f"dump: {args.records:,} records, {size_mb:.1f} MiB, from {origin}")
        print(f"batch size {args.batch_size:,}; RSS at start {rss_mb():.0f} MiB\n")

        baseline = read_parse_baseline(dump)
        print(f"{'backend':<9} {'stage':<36} {'seconds':>8} {'docs/s':>9} {'RSS max MiB':>12}")
        print(
            f"{'-':<9} {'baseline: read+parse only':<36} {baseline.seconds:>8.2f} "
            f"{baseline.rate:>9,.0f} {baseline.rss_max:>12.0f}"
        )

        backends = []
        if not args.no_postgres:
            backends.append("postgres")
        if not args.no_sqlite:
            backends.append("sqlite")
        results = {}
        for backend in backends:
            for workers in (0, resolve_workers(-1)):
                if workers == 0:
                    run_settings = replace(settings, ingest=replace(settings.ingest, workers=0))
                    label = "serial"
                else:
                    run_settings, label = settings, f"{workers} prepare worker(s)"
                url, drop = scratch_warehouse(backend, args.pg_url, tmpdir / f"bench-{workers}.db")
                try:
                    print(f"{backend} - {label}:")
                    stages, summary = instrumented_run(url, dump, run_settings)
                    for name, st in stages.items():
                        rate = f"{st.rate:>9,.0f}" if st.docs else f"{'':>9}"
                        print(f"{backend:<9} {name:<36} {st.seconds:>8.2f} {rate} {st.rss_max:>12.0f}")
                    t = summary.totals
                    results[f"{backend}, {label}"] = (
                        t.articles,
                        t.exact_duplicates,
                        t.near_duplicates,
                        t.rejects,
                    )
                    load_rss = stages["load (dedup+bulk insert)"].rss_samples
                    step = max(1, len(load_rss) // 5)
                    print(
                        f"{'':<9} loader RSS by batch (every {step}): "
                        + ", ".join(f"{x:.0f}" for x in load_rss[::step])
                        + " MiB"
                    )
                finally:
                    drop()
        for backend, (kept, exact, near, rej) in results.items():
            print(f"{backend}: kept {kept:,}, exact dups {exact:,}, near dups {near:,}, rejects {rej:,}")

        if not args.no_flow:
            print("\nthrough the Prefect flow (ephemeral server start-up included):")
            for backend in backends:
                url, drop = scratch_warehouse(backend, args.pg_url, tmpdir / "flow.db")
                try:
                    seconds, summary = flow_run(url, dump, config)
                    rate = summary.totals.records / seconds
                    print(
                        f"{backend:<9} flow total {seconds:>8.2f} s {rate:>9,.0f} docs/s "
                        f"(in-flow {summary.elapsed:.2f} s, "
                        f"{summary.totals.records / summary.elapsed:,.0f} docs/s)"
                    )
                finally:
                    drop()
        print(f"\npeak RSS of the whole benchmark process: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
