"""A dropped version's text stays in the warehouse, and explain diffs it against the kept one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from etl.config import Settings
from etl.runner import run_ingest
from etl.textdiff import unpack
from etl.warehouse.explain import explain
from etl.warehouse.models import ArticleRow, Duplicate
from tests.conftest import edit_words, news_record, story, write_jsonl
from tests.test_cli import newsetl

SETTINGS = Settings()
RESULTS = "Net profit was 2,101,000 dlrs, against 1,782,000 dlrs a year earlier."


def _rows(engine, stmt) -> list:
    with engine.connect() as conn:
        return [r._mapping for r in conn.execute(stmt)]


def _original_then_correction(tmp_path: Path) -> tuple[Path, str, str, Path]:
    original = story(91) + "\n\n" + RESULTS
    corrected = story(91) + "\n\n" + RESULTS.replace("2,101,000", "2,110,000") + "\n\n(corrects net profit)"
    d1 = write_jsonl(tmp_path / "d1.jsonl", [news_record("ACME CORP 4TH QTR NET", original)])
    d2 = write_jsonl(
        tmp_path / "d2.jsonl",
        [news_record("CORRECTED - ACME CORP 4TH QTR NET", corrected, url="https://example.org/acme-c")],
    )
    return d1, original, corrected, d2


def test_a_correction_replaces_the_original_whose_text_explain_can_diff(engine, tmp_path: Path) -> None:
    d1, original, corrected, d2 = _original_then_correction(tmp_path)
    run_ingest(engine, [str(d1)], settings=SETTINGS, source="wire")
    kept_id = _rows(engine, select(ArticleRow.id))[0]["id"]

    summary = run_ingest(engine, [str(d2)], settings=SETTINGS, source="wire")

    assert summary.totals.replaced == 1
    stored = _rows(engine, select(ArticleRow.id, ArticleRow.title, ArticleRow.body))
    assert [(r["id"], r["title"], r["body"]) for r in stored] == [
        (kept_id, "CORRECTED - ACME CORP 4TH QTR NET", corrected)
    ]
    dup = _rows(engine, select(Duplicate.title, Duplicate.duplicate_of, Duplicate.body_z))
    assert [(d["title"], d["duplicate_of"]) for d in dup] == [("ACME CORP 4TH QTR NET", kept_id)]
    assert unpack(dup[0]["body_z"]) == original

    why = explain(engine, f"{d1}#0", SETTINGS.dedup)
    assert why.found == "duplicate" and why.kept["id"] == kept_id
    assert why.duplicate["body"] == original
    changed = "\n".join(why.diff)
    assert "[-2,101,000-] {+2,110,000+}" in changed and "{+(corrects net profit)+}" in changed
    assert len(why.diff) == 1  # the unchanged story around the figure is not repeated


def test_a_near_duplicate_keeps_its_text(engine, tmp_path: Path) -> None:
    base = story(92)
    edited = edit_words(base, 3)
    dump = write_jsonl(tmp_path / "d.jsonl", [news_record("Kept", base), news_record("Edited", edited)])

    run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")

    dup = _rows(engine, select(Duplicate.title, Duplicate.method, Duplicate.body_z))
    assert [(d["title"], d["method"]) for d in dup] == [("Edited", "near")]
    assert unpack(dup[0]["body_z"]) == edited
    why = explain(engine, f"{dump}#1", SETTINGS.dedup)
    assert len(why.diff) == 3 and all("[-edited" in line for line in why.diff)


def test_explain_says_when_the_dropped_text_was_not_kept(engine, tmp_path: Path) -> None:
    base = story(93)
    records = [news_record("Kept", base), news_record("Edited", edit_words(base, 2))]
    dump = write_jsonl(tmp_path / "d.jsonl", records)
    run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")
    with engine.begin() as conn:  # a row loaded before the text was kept
        conn.execute(Duplicate.__table__.update().values(body_z=None))

    why = explain(engine, f"{dump}#1", SETTINGS.dedup)

    assert why.found == "duplicate" and why.diff is None


def test_the_cli_shows_the_changed_figure(db_url: str, tmp_path: Path, prefect_home: Path) -> None:
    d1, _, _, d2 = _original_then_correction(tmp_path)
    for dump in (d1, d2):
        out = newsetl("ingest", str(dump), "--db", db_url, cwd=tmp_path, prefect_home=prefect_home)
        assert out.returncode == 0, out.stderr

    out = newsetl("explain", f"{d1}#0", "--db", db_url, cwd=tmp_path, prefect_home=prefect_home)

    assert out.returncode == 0, out.stderr
    assert "dropped" in out.stdout and "CORRECTED - ACME" in out.stdout
    assert "[-2,101,000-] {+2,110,000+}" in out.stdout
