"""The encoding a reader decoded a dump with is recorded in the ledger (``dumps.encoding``).

README: "UTF-8 first; otherwise detected ...; the decision is recorded". Readers
name the decoder per record; it used to be dropped on the way, leaving the column
empty for every dump.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from etl.config import IngestConfig, Settings
from etl.runner import run_ingest
from etl.warehouse.models import ArticleRow, Dump
from tests.conftest import news_record, story, write_jsonl

SETTINGS = replace(Settings(), ingest=IngestConfig(batch_size=10, workers=0))
TITLE = "Harbour tolls rise"
BODY = "The harbour\u2019s board raised the tolls on Tuesday, citing the cost of dredging the channel."


def test_a_cp1252_text_dump_records_its_encoding_and_reads_right(engine, tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "tolls.txt").write_bytes(f"{TITLE}\n\n{BODY}\n".encode("cp1252"))  # ’ is byte 0x92
    (folder / "plain.txt").write_bytes(f"Ferry resumes\n\n{story(1)}\n".encode())
    write_jsonl(folder / "crawl.jsonl", [news_record("Crawled", story(2))])

    summary = run_ingest(engine, [str(folder)], settings=SETTINGS, source="wire")

    assert summary.failures == [] and summary.totals.articles == 3
    with engine.connect() as conn:
        encodings = {Path(loc).name: enc for loc, enc in conn.execute(select(Dump.location, Dump.encoding))}
        body = conn.execute(select(ArticleRow.body).where(ArticleRow.title == TITLE)).scalar_one()
    # JSON Lines is UTF-8 by definition: its reader names no decoder, so nothing is claimed.
    assert encodings == {"tolls.txt": "cp1252", "plain.txt": "utf-8", "crawl.jsonl": None}
    assert body == BODY


def test_a_csv_dump_whose_reader_falls_back_to_latin1_records_the_fallback(engine, tmp_path: Path) -> None:
    articles = [(f"Story {i}", f"{story(i)} Caf\u00e9 {i}.") for i in range(3)]
    dump = tmp_path / "mixed.csv"
    rows = ["title,content"] + [f'"{t}","{b}"' for t, b in articles]
    # the first two rows are UTF-8, the last one Latin-1 (0xE9): the reader falls back for it,
    # and the UTF-8 rows name no decoder (the reader marks only the fallback)
    data = "\n".join(rows[:3]).encode() + b"\n" + rows[3].encode("latin-1") + b"\n"
    dump.write_bytes(data)

    summary = run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")

    assert summary.failures == [] and summary.totals.articles == 3
    with engine.connect() as conn:
        encoding = conn.execute(select(Dump.encoding)).scalar_one()
    assert encoding in {"latin-1", "cp1252"}
