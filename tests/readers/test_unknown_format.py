"""A dump whose format cannot be told stays open: a later run with --format reads it, once."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from etl.config import IngestConfig, Settings
from etl.runner import run_ingest
from etl.warehouse.models import ArticleRow, Dump, Duplicate, RejectRow
from tests.conftest import story

SETTINGS = Settings(ingest=IngestConfig(workers=0))
ARTICLE = "Harbour tolls rise\n\n" + story(41) + "\n"


def table_counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (ArticleRow, Duplicate, RejectRow)
        )


def snapshot(engine) -> list:
    with engine.connect() as conn:
        return [
            conn.execute(select(ArticleRow.locator, ArticleRow.title).order_by(ArticleRow.locator)).all(),
            conn.execute(select(RejectRow.locator, RejectRow.reason_code).order_by(RejectRow.locator)).all(),
            conn.execute(select(Dump.location, Dump.status, Dump.rejects).order_by(Dump.location)).all(),
        ]


def jsonl() -> str:
    return "".join(json.dumps({"title": f"Story {i}", "maintext": story(50 + i)}) + "\n" for i in range(2))


def test_unrecognised_file_is_read_by_a_later_run_with_format(engine, tmp_path: Path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.jsonl").write_text(jsonl())
    (folder / "story.dat").write_text(ARTICLE)  # plain text, but .dat: no format claims it

    first = run_ingest(engine, [str(folder)], settings=SETTINGS, source="s")
    assert (first.totals.records, first.totals.articles, first.totals.rejects) == (3, 2, 1)
    assert table_counts(engine) == (2, 0, 1)
    with engine.connect() as conn:
        reason_code, reason = conn.execute(select(RejectRow.reason_code, RejectRow.reason)).one()
        statuses = dict(conn.execute(select(Dump.location, Dump.status)).all())
    assert reason_code == "unknown_format" and "cannot tell the format" in reason
    assert statuses == {str(folder / "a.jsonl"): "done", str(folder / "story.dat"): "unknown_format"}

    second = run_ingest(engine, [str(folder)], settings=SETTINGS, source="s", fmt="text")
    assert [d.status for d in second.dumps] == ["skipped", "loaded"]
    assert (second.totals.records, second.totals.articles, second.totals.rejects) == (1, 1, 0)
    assert table_counts(engine) == (3, 0, 0)  # the reject was replaced by the article
    with engine.connect() as conn:
        row = conn.execute(
            select(Dump.status, Dump.rejects, Dump.format).where(Dump.location.like("%.dat"))
        ).one()
        assert tuple(row) == ("done", 0, "text")
        title = conn.execute(
            select(ArticleRow.title).where(ArticleRow.locator.like("%story.dat#%"))
        ).scalar_one()
    assert title == "Harbour tolls rise"

    before = snapshot(engine)
    third = run_ingest(engine, [str(folder)], settings=SETTINGS, source="s", fmt="text")
    assert [d.status for d in third.dumps] == ["skipped", "skipped"]
    assert snapshot(engine) == before


def test_unrecognised_archive_member_is_read_again_alone(engine, tmp_path: Path):
    path = tmp_path / "day.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.jsonl", jsonl())
        zf.writestr("b.dat", ARTICLE)

    run_ingest(engine, [str(path)], settings=SETTINGS, source="s")
    assert table_counts(engine) == (2, 0, 1)
    again = run_ingest(engine, [str(path)], settings=SETTINGS, source="s")  # still no way to tell
    assert (again.totals.records, again.totals.rejects) == (1, 1)
    assert table_counts(engine) == (2, 0, 1)  # replaced, not duplicated

    fixed = run_ingest(engine, [str(path)], settings=SETTINGS, source="s", fmt="text")
    assert (fixed.totals.records, fixed.totals.articles) == (1, 1)  # a.jsonl is not read again
    assert table_counts(engine) == (3, 0, 0)
    with engine.connect() as conn:
        locators = conn.execute(select(ArticleRow.locator).order_by(ArticleRow.ordinal)).scalars().all()
        assert conn.execute(select(Dump.status)).scalar_one() == "done"
    assert locators == [f"{path}!a.jsonl#0", f"{path}!a.jsonl#1", f"{path}!b.dat#0"]
    before = snapshot(engine)
    run_ingest(engine, [str(path)], settings=SETTINGS, source="s", fmt="text")
    assert snapshot(engine) == before
