"""Ingest throughput: docs/s and RSS per stage, into Postgres and SQLite.

Builds one JSON Lines dump of N records (default 20,000) from the real BBC and
Reuters-21578 stories in ../shared/corpora when present (their natural duplicates
included), topped up or replaced by synthetic stories otherwise, then ingests it
with etl.runner.run_ingest, the same prepare/load functions the CLI's Prefect
tasks call, timing each stage. The baseline in the same run is the read+parse
floor (reader and normalisation only). Finally the same dump goes through the
Prefect flow itself, to show the orchestration overhead.

    python benchmarks/ingest_throughput.py [--records 20000] [--batch-size 2000]
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
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from etl.config import IngestConfig, Settings  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=2_000)
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
