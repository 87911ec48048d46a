"""Landing folders: only complete files are taken, each by one run, then moved on."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from etl.config import Settings
from etl.errors import ConfigError
from etl.runner import run_ingest
from etl.sources.config import FolderSource, load_sources
from etl.sources.folder import CLAIM_DIR, claim
from etl.warehouse.db import make_engine
from tests.conftest import news_record, story


def landing(tmp_path: Path, n: int = 3) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(n):
        record = news_record(f"Landing {i}", story(700 + i))
        (inbox / f"dump-{i}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return inbox


def folder_source(path: Path, **kw) -> FolderSource:
    return FolderSource(**{"name": "inbox", "path": str(path), "stable_seconds": 0.0, **kw})


def test_files_are_claimed_loaded_and_moved_to_processed(tmp_path: Path, sqlite_url: str) -> None:
    inbox = landing(tmp_path)
    (inbox / "uploading.jsonl.part").write_text("{}", encoding="utf-8")
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[sources.inbox]\nkind = "folder"\npath = "{inbox}"\npattern = "*.jsonl"\nstable_seconds = 0\n',
        encoding="utf-8",
    )
    engine = make_engine(sqlite_url)

    summary = run_ingest(engine, [], settings=Settings(), source="inbox", config_path=str(config))

    assert summary.totals.articles == 3
    assert {d.source for d in summary.dumps} == {"inbox"}
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "dump-0.jsonl",
        "dump-1.jsonl",
        "dump-2.jsonl",
    ]
    assert (inbox / "uploading.jsonl.part").exists()  # still being written: left alone
    assert not any((inbox / CLAIM_DIR).iterdir())
    again = run_ingest(engine, [], settings=Settings(), source="inbox", config_path=str(config))
    assert again.totals.records == 0 and "no file ready" in again.notes[0][1]
    engine.dispose()


def test_recently_modified_files_wait_for_the_next_run(tmp_path: Path) -> None:
    inbox = landing(tmp_path, n=2)
    fresh = inbox / "dump-1.jsonl"
    os.utime(fresh, (time.time(), time.time()))
    old = time.time() - 60
    os.utime(inbox / "dump-0.jsonl", (old, old))
    taken = claim(folder_source(inbox, stable_seconds=30.0))
    assert [c.original.name for c in taken] == ["dump-0.jsonl"]


def test_overlapping_runs_never_take_the_same_file(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    inbox = landing(tmp_path, n=200)
    src = folder_source(inbox)
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: claim(src), range(4)))
    taken = [c.original.name for batch in batches for c in batch]
    assert sorted(taken) == sorted(f"dump-{i}.jsonl" for i in range(200))  # each exactly once
    assert claim(src) == []  # fresh claims of a live run are not taken again


def test_claims_left_by_a_crashed_run_are_taken_again(tmp_path: Path) -> None:
    inbox = landing(tmp_path, n=2)
    claim(folder_source(inbox))  # that run "crashed" before loading
    retaken = claim(folder_source(inbox, reclaim_after_seconds=0.0))
    assert sorted(c.original.name for c in retaken) == ["dump-0.jsonl", "dump-1.jsonl"]


def test_a_failed_dump_moves_to_failed(tmp_path: Path, sqlite_url: str) -> None:
    inbox = landing(tmp_path, n=1)
    engine = make_engine(sqlite_url)
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[sources.inbox]\nkind = "folder"\npath = "{inbox}"\nstable_seconds = 0\n', encoding="utf-8"
    )

    def broken_load(*args, **kwargs):
        raise RuntimeError("disk full")

    summary = run_ingest(
        engine, [], settings=Settings(), source="inbox", config_path=str(config), load=broken_load
    )
    assert not summary.ok
    assert [p.name for p in (inbox / "failed").iterdir()] == ["dump-0.jsonl"]
    engine.dispose()


def test_leave_in_place_relies_on_the_ledger(tmp_path: Path, sqlite_url: str) -> None:
    inbox = landing(tmp_path, n=2)
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[sources.inbox]\nkind = "folder"\npath = "{inbox}"\nafter = "leave"\nstable_seconds = 0\n',
        encoding="utf-8",
    )
    engine = make_engine(sqlite_url)
    first = run_ingest(engine, [], settings=Settings(), source="inbox", config_path=str(config))
    second = run_ingest(engine, [], settings=Settings(), source="inbox", config_path=str(config))
    assert first.totals.articles == 2
    assert [d.status for d in second.dumps] == ["skipped", "skipped"]
    assert len(list(inbox.glob("dump-*.jsonl"))) == 2
    engine.dispose()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('kind = "ftp"\nurl = "x"', r"sources\.bad\.kind must be one of http, folder"),
        ('kind = "http"', r"sources\.bad\.url is required"),
        ('kind = "http"\nurl = "https://x/{day}"', r"sources\.bad\.url: bad template"),
        ('kind = "folder"\npath = "/tmp"\npatern = "*"', r"unknown key sources\.bad\.patern"),
        ('kind = "http"\nurl = "https://x/"\nretries = "many"', r"sources\.bad\.retries must be int"),
        ('kind = "http"\nurl = "https://x/"\ntimezone = "Mars/Olympus"', r"unknown time zone"),
    ],
)
def test_bad_source_definitions_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "sources.toml"
    config.write_text(f"[sources.bad]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_sources(config)
