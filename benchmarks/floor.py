"""The floor for ingesting a dump: the least work any near-duplicate ingest must do, in one process.

JSON parse, word 5-gram shingles (lower-cased ``\\w+`` words, xxh32 of each
shingle), a 128-permutation MinHash computed in bulk with numpy (datasketch's
affine32 scheme, see etl.dedup.signatures.minhash_rows), and a binary COPY of
every row (title, body, signature) into a scratch Postgres table. No
normalisation, no dedup decisions, no index: what the product does beyond
this is what its ratio to the floor measures.

    python benchmarks/floor.py DUMP.jsonl [--batch-size 2000]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import xxhash  # noqa: E402

from etl.config import DedupConfig  # noqa: E402
from etl.dedup.signatures import minhash_rows  # noqa: E402

_WORD = re.compile(r"\w+")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def shingle_hashes(text: str, size: int = 5) -> list[int]:
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return [xxhash.xxh32_intdigest(" ".join(words).encode())] if words else []
    return [
        xxhash.xxh32_intdigest(" ".join(words[i : i + size]).encode()) for i in range(len(words) - size + 1)
    ]


def _conninfo(pg_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_floor(
    dump: Path, pg_url: str = DEFAULT_PG, batch_size: int = 2000, limit: int | None = None
) -> float:
    """Seconds to take the first ``limit`` records (all by default) of ``dump`` through the floor."""
    import psycopg

    cfg = DedupConfig()
    table = f"floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_conninfo(pg_url), autocommit=True) as conn:
        conn.execute(f"CREATE UNLOGGED TABLE {table} (id bigint, title text, body text, signature bytea)")
        try:
            started = time.perf_counter()
            next_id = 0
            with dump.open("rb") as fh:
                lines = islice(fh, limit)
                while batch := list(islice(lines, batch_size)):
                    records = [json.loads(line) for line in batch]
                    bodies = [r.get("maintext") or "" for r in records]
                    sigs = minhash_rows([shingle_hashes(b) for b in bodies], cfg).astype("<u4")
                    with (
                        conn.transaction(),
                        conn.cursor() as cur,
                        cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
                    ):
                        copy.set_types(["int8", "text", "text", "bytea"])
                        for r, body, sig in zip(records, bodies, sigs, strict=True):
                            copy.write_row((next_id, r.get("title") or "", body, sig.tobytes()))
                            next_id += 1
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--pg-url", default=os.environ.get("NEWSETL_TEST_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    with args.dump.open("rb") as fh:
        n = sum(1 for _ in fh)
    seconds = run_floor(args.dump, args.pg_url, args.batch_size)
    print(f"floor: {n:,} records in {seconds:.2f} s, {n / seconds:,.0f} records/s")


if __name__ == "__main__":
    main()
