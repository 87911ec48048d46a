"""Helpers for the fault tests: a multi-dump ingest with every kind of outcome, and a
comparison of two warehouses by content (what analysts query), ids and run ids aside."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from tests.conftest import edit_words, news_record, story


def write_dumps(folder: Path, dumps: int = 4, per_dump: int = 60, seed: int = 0) -> int:
    """``dumps`` JSON Lines files in ``folder``; returns the number of records.

    Each dump holds new stories, an exact copy and a lightly edited copy of a story
    from the dump before (near duplicates across dumps, so order matters), and a
    line that is not JSON (a reject).
    """
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for d in range(dumps):
        lines = []
        for i in range(per_dump):
            base = seed + d * 1000 + i
            lines.append(json.dumps(news_record(f"D{d}-{i}", story(base))))
        if d:
            prev = seed + (d - 1) * 1000
            lines.append(json.dumps(news_record(f"D{d}-exact", story(prev))))
            lines.append(json.dumps(news_record(f"D{d}-near", edit_words(story(prev + 1), 2, seed=d))))
        lines.append("{this is not json")
        (folder / f"dump-{d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        total += len(lines)
    return total


def snapshot(url: str) -> dict[str, list[tuple]]:
    """The warehouse's content: articles, duplicates (with the kept locator), rejects."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "articles": conn.execute(
                    text("SELECT locator, source, url, title, content_hash FROM articles ORDER BY locator")
                ).all(),
                "duplicates": conn.execute(
                    text(
                        "SELECT d.locator, a.locator, d.method, d.measure, d.relation, "
                        "round(CAST(d.similarity AS numeric), 6) FROM duplicates d "
                        "JOIN articles a ON a.id = d.duplicate_of ORDER BY d.locator"
                    )
                ).all(),
                "rejects": conn.execute(
                    text("SELECT locator, reason_code, reason FROM rejects ORDER BY locator")
                ).all(),
            }
    finally:
        engine.dispose()


def records_done(conninfo: str) -> int:
    """Records loaded so far (sum of the dumps' resume points); -1 while unreachable."""
    try:
        with psycopg.connect(conninfo, connect_timeout=2) as conn:
            row = conn.execute("SELECT coalesce(sum(records_done), 0) FROM dumps").fetchone()
            return int(row[0])
    except psycopg.Error:
        return -1


class FaultWhenLoaded(threading.Thread):
    """Runs ``fault()`` once at least ``after`` records are loaded; records when and at what point."""

    def __init__(self, conninfo: str, after: int, fault: Callable[[], None], timeout: float = 120) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.after, self.fault, self.timeout = conninfo, after, fault, timeout
        self.done_at_fault: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                done = records_done(self.conninfo)
                if done >= self.after:
                    self.done_at_fault = done
                    self.fault()
                    return
                time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.error = exc
