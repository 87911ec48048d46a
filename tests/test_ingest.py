"""The ingest path against real warehouses (SQLite and Postgres), without Prefect."""

from __future__ import annotations

import contextlib
import gc
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from etl.batches import prepare_batch
from etl.config import DedupConfig, IngestConfig, Settings
from etl.errors import IndexMismatchError
from etl.pipeline import load_prepared
from etl.readers import read_dump
from etl.runner import run_ingest
from etl.warehouse.ledger import claim_dump, start_run
from etl.warehouse.load import load_batch
from etl.warehouse.models import ArticleRow, Dump, Duplicate, LshBand, RejectRow, Run
from etl.warehouse.schema import prepare_warehouse
from tests.conftest import FIXTURES, edit_words, news_record, story, write_jsonl

SETTINGS = Settings()


def count(engine, model, **where) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def rows(engine, stmt):
    with engine.connect() as conn:
        return [r._mapping for r in conn.execute(stmt)]


def warehouse_snapshot(engine) -> dict[str, list]:
    """Everything a user sees, minus run ids and timestamps."""
    return {
        "articles": [
            tuple(r)
            for r in rows(
                engine,
                select(
                    ArticleRow.id,
                    ArticleRow.locator,
                    ArticleRow.title,
                    ArticleRow.body,
                    ArticleRow.content_hash,
                ).order_by(ArticleRow.id),
            )
        ],
        "duplicates": [
            tuple(r)
            for r in rows(
                engine,
                select(
                    Duplicate.locator,
                    Duplicate.duplicate_of,
                    Duplicate.method,
                    Duplicate.similarity,
                ).order_by(Duplicate.locator),
            )
        ],
        "rejects": [
            tuple(r)
            for r in rows(engine, select(RejectRow.locator, RejectRow.reason).order_by(RejectRow.locator))
        ],
    }


@pytest.fixture
def day1(tmp_path: Path) -> Path:
    """Six records: four distinct stories, one exact and one near duplicate of story 1."""
    base = story(1)
    return write_jsonl(
        tmp_path / "day1.jsonl",
        [
            news_record("Story one", base),
            news_record("Story two", story(2)),
            news_record("Story one again", base, url="https://mirror.example.net/one"),
            news_record("Story three", story(3)),
            news_record("Story one edited", edit_words(base, 3)),
            news_record("Story four", story(4)),
        ],
    )


def test_first_seen_is_kept_and_duplicates_name_it(engine, day1: Path) -> None:
    summary = run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")

    t = summary.totals
    assert (t.records, t.articles, t.exact_duplicates, t.near_duplicates, t.rejects) == (
        6,
        4,
        1,
        1,
        0,
    )
    kept = rows(engine, select(ArticleRow.id, ArticleRow.title).where(ArticleRow.title.like("Story one%")))
    assert [r["title"] for r in kept] == ["Story one"]
    dups = rows(engine, select(Duplicate).order_by(Duplicate.ordinal))
    assert [(d["title"], d["method"], d["duplicate_of"]) for d in dups] == [
        ("Story one again", "exact", kept[0]["id"]),
        ("Story one edited", "near", kept[0]["id"]),
    ]
    assert dups[0]["similarity"] == 1.0
    assert 0.8 <= dups[1]["similarity"] < 1.0
    assert dups[1]["measure"] == "jaccard"


def test_near_duplicate_in_a_later_run_is_caught(engine, day1: Path, tmp_path: Path) -> None:
    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")
    original_id = rows(engine, select(ArticleRow.id).where(ArticleRow.title == "Story three"))[0]["id"]
    day2 = write_jsonl(
        tmp_path / "day2.jsonl",
        [
            news_record("Story three, updated", edit_words(story(3), 4, seed=7), day=2),
            news_record("Story five", story(5), day=2),
        ],
    )

    summary = run_ingest(engine, [str(day2)], settings=SETTINGS, source="wire")

    assert (summary.totals.articles, summary.totals.near_duplicates) == (1, 1)
    dup = rows(engine, select(Duplicate).where(Duplicate.title == "Story three, updated"))
    assert dup[0]["duplicate_of"] == original_id
    assert dup[0]["method"] == "near"


def test_truncated_version_is_caught_by_containment(engine, tmp_path: Path) -> None:
    full = story(11, words=400)
    paras = full.split("\n\n")
    truncated = "\n\n".join(paras[: len(paras) // 2])
    dump = write_jsonl(
        tmp_path / "wire.jsonl",
        [news_record("Full story", full), news_record("Early version", truncated)],
    )

    summary = run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")

    assert summary.totals.near_duplicates == 1
    dup = rows(engine, select(Duplicate))[0]
    assert (dup["title"], dup["measure"]) == ("Early version", "containment")


def test_distinct_stories_on_the_same_topic_are_all_kept(engine, tmp_path: Path) -> None:
    dump = write_jsonl(
        tmp_path / "distinct.jsonl", [news_record(f"Story {i}", story(100 + i)) for i in range(50)]
    )
    summary = run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")
    assert summary.totals.articles == 50
    assert count(engine, Duplicate) == 0


def test_same_dump_twice_changes_nothing(engine, day1: Path, tmp_path: Path) -> None:
    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")
    before = warehouse_snapshot(engine)
    copy = tmp_path / "renamed-copy.jsonl"
    copy.write_bytes(day1.read_bytes())

    again = run_ingest(engine, [str(day1), str(copy)], settings=SETTINGS, source="wire")

    assert warehouse_snapshot(engine) == before
    assert [d.status for d in again.dumps] == ["skipped", "skipped"]
    assert again.totals.records == 0
    assert count(engine, Dump) == 1


def test_every_record_lands_exactly_once_per_run(engine, tmp_path: Path) -> None:
    """records read = articles + duplicates + rejects, in the summary, in runs, in the tables."""
    base = story(21)
    dump = write_jsonl(
        tmp_path / "mixed.jsonl",
        [news_record("A", base), news_record("B", story(22)), news_record("A copy", base)],
    )
    with dump.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write('{"title": "no body", "maintext": ""}\n')
        fh.write('{"title": "ancient", "maintext": "Text of the story.", "date_publish": "1200-01-01"}\n')
    shutil_seed = FIXTURES / "tass-seed-article.txt"

    summary = run_ingest(engine, [str(dump), str(shutil_seed)], settings=SETTINGS, source="mixed")

    run = rows(engine, select(Run).where(Run.id == summary.run_id))[0]
    tables = (
        count(engine, ArticleRow, run_id=summary.run_id),
        count(engine, Duplicate, run_id=summary.run_id),
        count(engine, RejectRow, run_id=summary.run_id),
    )
    assert summary.totals.records == 7
    assert run["records"] == 7 == sum(tables)
    assert tables == (3, 1, 3)
    assert run["articles"] + run["exact_duplicates"] + run["near_duplicates"] + run["rejects"] == 7
    assert run["status"] == "completed"
    reasons = [r["reason"] for r in rows(engine, select(RejectRow.reason).order_by(RejectRow.ordinal))]
    assert "not valid JSON" in reasons[0]
    assert all(len(r) > 20 for r in reasons)


class Crash(RuntimeError):
    pass


def test_crash_mid_run_then_rerun_equals_one_clean_run(db_url: str, tmp_path: Path, request) -> None:
    from etl.warehouse.db import make_engine

    records = [news_record(f"Story {i}", story(200 + i)) for i in range(25)]
    records[17] = news_record("Copy of 3", records[3]["maintext"])
    records[22] = news_record("Edit of 10", edit_words(records[10]["maintext"], 3))
    dump = write_jsonl(tmp_path / "big.jsonl", records)
    settings = replace(SETTINGS, ingest=IngestConfig(batch_size=5))

    loaded_batches = 0

    def crashing_load(*args, **kwargs):
        nonlocal loaded_batches
        if loaded_batches == 3:
            raise Crash("power cut")
        loaded_batches += 1
        return load_prepared(*args, **kwargs)

    crashed = make_engine(db_url)
    first = run_ingest(crashed, [str(dump)], settings=settings, source="wire", load=crashing_load)
    assert first.failures and "power cut" in first.failures[0][1]
    assert count(crashed, ArticleRow) + count(crashed, Duplicate) == 15
    resumed = run_ingest(crashed, [str(dump)], settings=settings, source="wire")
    assert resumed.dumps[0].status == "resumed"
    assert resumed.totals.records == 10

    if db_url.startswith("sqlite"):
        clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    else:
        clean_url = request.getfixturevalue("pg_url")
    clean = make_engine(clean_url)
    run_ingest(clean, [str(dump)], settings=settings, source="wire")
    assert warehouse_snapshot(crashed) == warehouse_snapshot(clean)
    assert count(crashed, Duplicate) == 2
    crashed.dispose()
    clean.dispose()


def test_changed_dedup_settings_are_refused(engine, day1: Path, tmp_path: Path) -> None:
    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")
    other = Settings(dedup=DedupConfig(num_perm=64, bands=16, rows=4))
    day2 = write_jsonl(tmp_path / "day2.jsonl", [news_record("Story nine", story(9))])
    with pytest.raises(IndexMismatchError, match="dedup reindex"):
        run_ingest(engine, [str(day2)], settings=other, source="wire")


def test_an_index_built_with_another_shingle_hash_names_the_setting_that_keeps_it(
    engine, day1: Path, tmp_path: Path
) -> None:
    built_with = Settings(dedup=DedupConfig(hashfunc="words"))
    run_ingest(engine, [str(day1)], settings=built_with, source="wire")
    day2 = write_jsonl(tmp_path / "day2.jsonl", [news_record("Story nine", story(9))])

    with pytest.raises(IndexMismatchError, match='set hashfunc = "words" under \\[dedup\\]'):
        run_ingest(engine, [str(day2)], settings=Settings(), source="wire")
    # with the setting it names, the index takes the new dump
    assert run_ingest(engine, [str(day2)], settings=built_with, source="wire").totals.articles == 1


def test_unreadable_dump_becomes_a_reject_and_the_run_goes_on(engine, day1: Path, tmp_path: Path) -> None:
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01binary blob that is no news dump")

    summary = run_ingest(engine, [str(odd), str(day1)], settings=SETTINGS, source="wire")

    assert summary.totals.rejects == 1
    assert summary.totals.articles == 4
    reject = rows(engine, select(RejectRow))[0]
    assert reject["locator"].endswith("notes.bin#0")
    assert "could not be read" in reject["reason"]


def test_control_characters_and_unicode_survive_the_bulk_load(engine, tmp_path: Path) -> None:
    body = "Zürich\u00a0talks \u201cresumed\u201d on Monday.\u0000 Officials said so.\n\n" + story(41)
    dump = write_jsonl(tmp_path / "odd.jsonl", [news_record("Zürich \u2014 talks", body)])

    summary = run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")

    assert summary.totals.articles == 1
    stored = rows(engine, select(ArticleRow.title, ArticleRow.body))[0]
    assert stored["title"] == "Zürich \u2014 talks"
    assert stored["body"].startswith("Zürich talks \u201cresumed\u201d on Monday. Officials said so.")
    assert "\x00" not in stored["body"]


def test_reindex_after_changing_settings_makes_the_index_usable_again(
    engine, day1: Path, tmp_path: Path
) -> None:
    from etl.warehouse.index import reindex

    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")
    other = Settings(dedup=DedupConfig(num_perm=64, bands=16, rows=4))
    assert reindex(engine, other.dedup) == 4
    day2 = write_jsonl(
        tmp_path / "day2.jsonl", [news_record("Story two, again", edit_words(story(2), 2, seed=3), day=2)]
    )
    summary = run_ingest(engine, [str(day2)], settings=other, source="wire")
    assert summary.totals.near_duplicates == 1  # found through the rebuilt index


def test_explain_names_the_kept_copy_and_neighbours(engine, day1: Path) -> None:
    from etl.warehouse.explain import explain

    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")
    dropped = explain(engine, "https://mirror.example.net/one", SETTINGS.dedup)
    assert dropped.found == "duplicate"
    assert dropped.duplicate["method"] == "exact"
    assert dropped.kept["title"] == "Story one"
    kept = explain(engine, str(dropped.kept["id"]), SETTINGS.dedup)
    assert kept.found == "article" and kept.neighbours == []
    assert explain(engine, "https://nowhere.example/x", SETTINGS.dedup).found == "none"


def test_explain_finds_a_reject_by_its_locator(engine, tmp_path: Path) -> None:
    from etl.warehouse.explain import explain

    dump = tmp_path / "bad.jsonl"
    dump.write_text(json.dumps(news_record("Good", story(5))) + "\n{not json\n", encoding="utf-8")
    run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")
    why = explain(engine, f"{dump}#1", SETTINGS.dedup)  # ordinals count from 0
    assert why.found == "reject"
    assert "JSON" in why.reject["reason"] and why.reject["raw"].startswith("{not json")


def test_duplicates_record_how_they_relate_to_the_kept_story(engine, tmp_path: Path) -> None:
    full = story(61, words=400)
    paras = full.split("\n\n")
    dump = write_jsonl(
        tmp_path / "rel.jsonl",
        [
            news_record("Kept", full),
            news_record("Copy", full),
            news_record("Edited", edit_words(full, 4)),
            news_record("Early part", "\n\n".join(paras[: len(paras) * 2 // 3])),
            news_record("Updated", full + "\n\n" + story(62, words=80)),
        ],
    )
    run_ingest(engine, [str(dump)], settings=SETTINGS, source="wire")
    got = {r["title"]: r["relation"] for r in rows(engine, select(Duplicate.title, Duplicate.relation))}
    assert got == {"Copy": "copy", "Edited": "revision", "Early part": "excerpt", "Updated": "update"}


def test_a_lightly_edited_short_story_in_a_later_run_is_a_revision(engine, tmp_path: Path) -> None:
    from etl.warehouse.explain import explain

    base = story(81, words=70)
    day1 = write_jsonl(tmp_path / "d1.jsonl", [news_record("Brief", base)])
    day2 = write_jsonl(tmp_path / "d2.jsonl", [news_record("Brief, corrected", edit_words(base, 3), day=2)])
    run_ingest(engine, [str(day1)], settings=SETTINGS, source="wire")

    summary = run_ingest(engine, [str(day2)], settings=SETTINGS, source="wire")

    assert (summary.totals.articles, summary.totals.near_duplicates) == (0, 1)
    dup = rows(engine, select(Duplicate.measure, Duplicate.relation, Duplicate.similarity))[0]
    assert (dup["measure"], dup["relation"]) == ("edit", "revision") and dup["similarity"] >= 0.95
    why = explain(engine, "https://example.org/brief,-corrected", SETTINGS.dedup)
    assert why.found == "duplicate" and why.kept["title"] == "Brief"


@pytest.mark.parametrize("lead_bands", [4, 0])
def test_a_short_brief_of_a_long_story_is_found_through_its_lead(
    engine, tmp_path: Path, lead_bands: int
) -> None:
    full = story(82, words=300)
    brief = " ".join(full.split(" ")[:45])  # the first sentences: Jaccard with the story ~0.15
    day1 = write_jsonl(tmp_path / "d1.jsonl", [news_record("Full story", full)])
    day2 = write_jsonl(tmp_path / "d2.jsonl", [news_record("Brief", brief, day=2)])
    settings = Settings(dedup=DedupConfig(lead_bands=lead_bands))
    run_ingest(engine, [str(day1)], settings=settings, source="wire")

    summary = run_ingest(engine, [str(day2)], settings=settings, source="wire")

    if lead_bands:
        assert summary.totals.near_duplicates == 1
        assert rows(engine, select(Duplicate.relation))[0]["relation"] == "excerpt"
    else:  # the body bands alone cannot see a pair this dissimilar
        assert summary.totals.articles == 1


@pytest.mark.parametrize("order", ["short first", "full first"])
def test_longest_policy_keeps_the_fuller_version_whatever_the_order(
    engine, tmp_path: Path, order: str
) -> None:
    full = story(71, words=400)
    paras = full.split("\n\n")
    short = "\n\n".join(paras[: len(paras) * 2 // 3])
    records = [news_record("Short", short), news_record("Full", full)]
    if order == "full first":
        records.reverse()
    dump = write_jsonl(tmp_path / "v.jsonl", records)
    settings = Settings(dedup=DedupConfig(policy="longest"))

    run_ingest(engine, [str(dump)], settings=settings, source="wire")

    assert [r["title"] for r in rows(engine, select(ArticleRow.title))] == ["Full"]
    dup = rows(engine, select(Duplicate.title, Duplicate.relation))
    assert [(d["title"], d["relation"]) for d in dup] == [("Short", "excerpt")]


def test_a_later_fuller_version_replaces_the_stored_one_under_longest(engine, tmp_path: Path) -> None:
    full = story(72, words=400)
    paras = full.split("\n\n")
    short = "\n\n".join(paras[: len(paras) * 2 // 3])
    settings = Settings(dedup=DedupConfig(policy="longest"))
    first = run_ingest(
        engine,
        [str(write_jsonl(tmp_path / "d1.jsonl", [news_record("Short", short)]))],
        settings=settings,
        source="w",
    )
    kept_id = rows(engine, select(ArticleRow.id))[0]["id"]
    copy = write_jsonl(tmp_path / "d0.jsonl", [news_record("Short copy", short, url="https://x.example/c")])
    run_ingest(engine, [str(copy)], settings=settings, source="w")  # an exact copy of the stored one

    second = run_ingest(
        engine,
        [str(write_jsonl(tmp_path / "d2.jsonl", [news_record("Full", full)]))],
        settings=settings,
        source="w",
    )

    assert second.totals.replaced == 1 and second.totals.articles == 1
    stored = rows(engine, select(ArticleRow.id, ArticleRow.title, ArticleRow.body))
    assert [(r["id"], r["title"]) for r in stored] == [(kept_id, "Full")]
    assert stored[0]["body"] == full
    dups = {r["title"]: r for r in rows(engine, select(Duplicate))}
    assert dups["Short"]["relation"] == "excerpt" and dups["Short"]["duplicate_of"] == kept_id
    assert dups["Short copy"]["duplicate_of"] == kept_id  # earlier duplicates still point at the story
    # every run still accounts for each of its records exactly once, in the tables
    for summary in (first, second):
        assert (
            count(engine, ArticleRow, run_id=summary.run_id) + count(engine, Duplicate, run_id=summary.run_id)
            == 1
        )
    # and the index now describes the full version
    again = run_ingest(
        engine,
        [str(write_jsonl(tmp_path / "d3.jsonl", [news_record("Full again", edit_words(full, 3))]))],
        settings=settings,
        source="w",
    )
    assert again.totals.near_duplicates == 1


def test_latest_policy_keeps_the_most_recently_published(engine, tmp_path: Path) -> None:
    text = story(73)
    records = [
        news_record("Day 5", text, day=5),
        news_record("Day 9", text, day=9),
        news_record("Day 7", text, day=7),
    ]
    settings = Settings(dedup=DedupConfig(policy="latest"))
    run_ingest(engine, [str(write_jsonl(tmp_path / "l.jsonl", records))], settings=settings, source="w")
    assert [r["title"] for r in rows(engine, select(ArticleRow.title))] == ["Day 9"]
    later = write_jsonl(tmp_path / "l2.jsonl", [news_record("Day 12", text, day=12)])
    summary = run_ingest(engine, [str(later)], settings=settings, source="w")
    assert summary.totals.replaced == 1
    assert [r["title"] for r in rows(engine, select(ArticleRow.title))] == ["Day 12"]
    assert count(engine, Duplicate) == 3


def test_batches_survivors_are_frozen_during_the_load_and_released_after(engine, day1: Path) -> None:
    """The collector skips what earlier batches left (etl.heap) only while the dump loads."""
    settings = Settings(ingest=IngestConfig(batch_size=2, workers=0))
    frozen_at_load: list[int] = []

    def load(*args, **kwargs):
        frozen_at_load.append(gc.get_freeze_count())
        return load_prepared(*args, **kwargs)

    threshold = gc.get_threshold()
    summary = run_ingest(engine, [str(day1)], settings=settings, source="wire", load=load)

    assert summary.totals.records == 6 and len(frozen_at_load) == 3
    assert frozen_at_load[0] == 0 and min(frozen_at_load[1:]) > 0
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold

    calls: list[int] = []

    def fails_on_the_second_batch(*args, **kwargs):
        calls.append(gc.get_freeze_count())
        if len(calls) == 2:
            raise RuntimeError("the warehouse went away")
        return load_prepared(*args, **kwargs)

    day2 = write_jsonl(day1.parent / "day2.jsonl", [news_record(f"Story {i}", story(i)) for i in (7, 8, 9)])
    with contextlib.suppress(RuntimeError):
        run_ingest(engine, [str(day2)], settings=settings, source="wire", load=fails_on_the_second_batch)
    assert len(calls) == 2 and calls[1] > 0
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold


def test_a_key_repeated_within_an_article_is_indexed_once(engine, day1: Path) -> None:
    """The band rows go in as one bulk insert keyed (band_key, article_id): a repeat must not break it."""
    prepare_warehouse(engine, SETTINGS.dedup)
    batch = prepare_batch(list(read_dump(day1)), "wire", SETTINGS.dedup)
    item = batch.prepared[0]
    item.band_keys = np.concatenate([item.band_keys[:3], item.band_keys, item.band_keys[5:6]])
    start_run(engine, "r", "ingest", {})
    state = claim_dump(engine, source="wire", location="d", sha256="d", size=1, fmt="jsonl", run_id="r")

    counts = load_batch(
        engine,
        dump_id=state.id,
        run_id="r",
        source="wire",
        prepared=batch.prepared,
        rejects=batch.rejects,
        end=batch.end,
        cfg=SETTINGS.dedup,
    )

    assert counts.articles == 4
    with engine.connect() as conn:
        first_id = conn.execute(select(func.min(ArticleRow.id))).scalar_one()
        stored = conn.execute(select(LshBand.band_key).where(LshBand.article_id == first_id)).scalars().all()
    assert sorted(stored) == sorted(set(item.band_keys.tolist()))
