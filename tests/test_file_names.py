"""A file name that is not UTF-8, or any unexpected error in one dump, never ends the run.

POSIX names are bytes; ``caf\\xe9.jsonl`` (latin-1) reaches Python as a str with a
lone surrogate, which neither database driver accepts. It used to end the whole
run with ``UnicodeEncodeError ... surrogates not allowed`` and leave the ``runs``
row ``running``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from etl.config import IngestConfig, Settings
from etl.runner import run_ingest
from etl.warehouse.models import ArticleRow, Dump, Run
from tests.conftest import news_record, story, write_jsonl

SETTINGS = replace(Settings(), ingest=IngestConfig(batch_size=10, workers=0))


def _latin1_named_dump(folder: Path) -> None:
    name = os.path.join(os.fsencode(folder), b"caf\xe9.jsonl")  # a bytes path: not UTF-8 on disk
    write_jsonl(Path(os.fsdecode(name)), [news_record("Cafe", story(1))])


def test_a_non_utf8_file_name_is_stored_as_backslash_x_and_the_run_completes(engine, tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    _latin1_named_dump(folder)
    write_jsonl(folder / "plain.jsonl", [news_record("Plain", story(2))])

    summary = run_ingest(engine, [str(folder)], settings=SETTINGS, source="wire")

    assert summary.failures == []
    assert summary.totals.articles == 2
    with engine.connect() as conn:
        run = conn.execute(select(Run.status, Run.error)).one()
        assert run == ("completed", None)
        assert set(conn.execute(select(Dump.location, Dump.status))) == {
            (f"{folder}/caf\\xe9.jsonl", "done"),
            (f"{folder}/plain.jsonl", "done"),
        }
        locators = set(conn.execute(select(ArticleRow.locator)).scalars())
    assert f"{folder}/caf\\xe9.jsonl#0" in locators


def test_an_unexpected_error_in_one_dump_fails_that_dump_and_the_run_ends_failed(
    engine, tmp_path: Path
) -> None:
    from etl.pipeline import load_prepared

    folder = tmp_path / "wire"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [news_record("A", story(3))])
    write_jsonl(folder / "b.jsonl", [news_record("B", story(4))])
    write_jsonl(folder / "c.jsonl", [news_record("C", story(5))])
    odd = os.fsdecode(b"caf\xe9")

    def load(engine_, batch, **kw):
        if batch.prepared and batch.prepared[0].article.title == "B":
            # an error no one planned for, whose message holds an undecodable name
            raise RuntimeError(f"cannot handle {odd}")
        return load_prepared(engine_, batch, **kw)

    summary = run_ingest(engine, [str(folder)], settings=SETTINGS, source="wire", load=load)

    assert [loc for loc, _ in summary.failures] == [f"{folder}/b.jsonl"]
    assert summary.totals.articles == 2  # a and c loaded
    with engine.connect() as conn:
        status, error = conn.execute(select(Run.status, Run.error)).one()
        dumps = dict(conn.execute(select(Dump.location, Dump.status)).all())
    assert status == "failed"
    assert "cannot handle caf\\xe9" in error
    assert dumps == {f"{folder}/a.jsonl": "done", f"{folder}/b.jsonl": "failed", f"{folder}/c.jsonl": "done"}
