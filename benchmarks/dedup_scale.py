"""Per-record dedup cost as the warehouse grows: is the index lookup flat?

Fills a scratch Postgres warehouse with N stored articles (filler rows written
with COPY straight into `articles`, `article_signatures` and `lsh_bands`, with
random band keys, which is what unrelated stories look like to the index), then
times the product's dedup-and-load of one fresh batch of 2,000 records at each
size (index lookups, verification of candidates, bulk insert). Prints the curve.

    python benchmarks/dedup_scale.py [--sizes 0,10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from etl.batches import prepare_batch  # noqa: E402
from etl.config import Settings  # noqa: E402
from etl.records import RawRecord  # noqa: E402
from etl.warehouse.db import make_engine  # noqa: E402
from etl.warehouse.ledger import claim_dump, start_run  # noqa: E402
from etl.warehouse.load import load_batch  # noqa: E402
from etl.warehouse.schema import prepare_warehouse  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from ingest_throughput import synthetic_record  # noqa: E402


def fill(url: str, start_id: int, count: int, cfg, rng: random.Random) -> None:
    """COPY ``count`` filler articles with random band keys (unrelated stories)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        # the rows' run_id names a runs row (a foreign key)
        cur.execute(
            "INSERT INTO runs (id, kind, parameters, status, started_at, dumps_read, dumps_skipped, records,"
            " articles, exact_duplicates, near_duplicates, rejects) VALUES ('filler', 'ingest', '{}',"
            " 'completed', now(), 0, 0, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING"
        )
        dump_id = cur.execute(
            "INSERT INTO dumps (source, location, sha256, size, status, records_done, articles,"
            " exact_duplicates, near_duplicates, rejects, created_at)"
            " VALUES ('filler', %s, %s, 0, 'done', 0, 0, 0, 0, 0, now()) RETURNING id",
            (f"filler-{start_id}", uuid.uuid4().hex + uuid.uuid4().hex),
        ).fetchone()[0]
        step = 50_000
        for chunk_start in range(start_id, start_id + count, step):
            ids = range(chunk_start, min(chunk_start + step, start_id + count))
            arts, bands = io.StringIO(), io.StringIO()
            for i in ids:
                arts.write(
                    f"{i}\tfiller\t{dump_id}\t{i}\tfiller\tfiller#{i}\tFiller {i}\tfiller story {i}\t"
                    f"[]\t[]\t[]\t{uuid.uuid4().hex}{uuid.uuid4().hex}\t2026-01-01\n"
                )
                for _ in range(cfg.bands + cfg.lead_bands):
                    bands.write(f"{rng.getrandbits(63) - (1 << 62)}\t{i}\n")
            with cur.copy(
                "COPY articles (id, run_id, dump_id, ordinal, source, locator, title, body, topics,"
                " persons, authors, content_hash, ingested_at) FROM STDIN"
            ) as cp:
                cp.write(arts.getvalue())
            with cur.copy("COPY lsh_bands (band_key, article_id) FROM STDIN") as cp:
                cp.write(bands.getvalue())
        conn.commit()
        cur.execute("ANALYZE lsh_bands")
        cur.execute("ANALYZE articles")
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,10000,100000,1000000")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "NEWSETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings()
    cfg = settings.dedup
    admin = make_url(args.pg_url)
    admin_info = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"newsetl_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_info, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    rng = random.Random(3)
    engine = make_engine(url)
    try:
        prepare_warehouse(engine, cfg)
        stored = 0
        print(f"{'stored articles':>16} {'batch ms':>9} {'ms/record':>10} ")
        for size in sizes:
            if size > stored:
                t = time.perf_counter()
                fill(url, -size, size - stored, cfg, rng)  # negative ids: clear of the loader's
                stored = size
                print(f"  (filled to {stored:,} in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
            records = [
                RawRecord(
                    f"scale#{i}",
                    i,
                    "jsonl",
                    {"title": f"Fresh {size}-{i}", "body": synthetic_record(size * 10 + i)["maintext"]},
                )
                for i in range(2000)
            ]
            batch = prepare_batch(records, "scale", cfg)
            run_id = str(uuid.uuid4())
            start_run(engine, run_id, "ingest", {})
            dump = claim_dump(
                engine,
                source="scale",
                location=f"scale-{size}",
                sha256=uuid.uuid4().hex * 2,
                size=0,
                fmt="jsonl",
                run_id=run_id,
            )
            t = time.perf_counter()
            load_batch(
                engine,
                dump_id=dump.id,
                run_id=run_id,
                source="scale",
                prepared=batch.prepared,
                rejects=batch.rejects,
                end=batch.end,
                cfg=cfg,
            )
            ms = (time.perf_counter() - t) * 1000
            print(f"{size:>16,} {ms:>9.0f} {ms / 2000:>10.3f}")
    finally:
        engine.dispose()
        with psycopg.connect(admin_info, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
