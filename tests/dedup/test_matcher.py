"""match_batch against an in-memory index: the decisions, without a database.

The index here is a few dicts behind the ``WarehouseIndex`` protocol, so these tests
show what the matcher decides for a batch given what is stored, and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

import numpy as np

from etl.batches import prepare_batch
from etl.config import DedupConfig
from etl.dedup.matcher import PreparedArticle, match_batch
from etl.dedup.stored import StoredHead
from etl.readers import read_dump
from tests.conftest import edit_words, news_record, story, write_jsonl

CFG = DedupConfig()
DIVIDEND = "Qtly div 30 cts vs 30 cts prior\nPay April 15\nRecord March 20"


class MemoryIndex:
    """Stored articles and their index keys in dicts (what etl.warehouse.index keeps in tables)."""

    def __init__(self) -> None:
        self.items: dict[int, PreparedArticle] = {}
        self.buckets: dict[int, list[int]] = defaultdict(list)

    def store(self, item: PreparedArticle) -> int:
        aid = len(self.items) + 1
        self.items[aid] = item
        for key in set(item.band_keys.tolist()):
            self.buckets[key].append(aid)
        return aid

    def ids_by_hash(self, hashes: Collection[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for aid, it in sorted(self.items.items()):
            if it.article.content_hash in hashes:
                out.setdefault(it.article.content_hash, aid)
        return out

    def candidate_pairs(self, band_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(k, aid) for k in set(band_keys.tolist()) for aid in self.buckets.get(k, ())]
        return np.array([k for k, _ in pairs], dtype=np.int64), np.array(
            [a for _, a in pairs], dtype=np.int64
        )

    def heads(self, ids: Collection[int]) -> dict[int, StoredHead]:
        return {
            aid: StoredHead(a.content_hash, a.title, a.published_at)
            for aid in ids
            for a in [self.items[aid].article]
        }

    def dedup_texts(self, ids: Collection[int]) -> dict[int, str]:
        return {aid: self.items[aid].article.dedup_text for aid in ids}

    def published(self, ids: Collection[int]) -> dict[int, object]:
        return {aid: self.items[aid].article.published_at for aid in ids}


def prepared(tmp_path: Path, name: str, records: list[dict]) -> list[PreparedArticle]:
    raw = list(read_dump(write_jsonl(tmp_path / f"{name}.jsonl", records)))
    return prepare_batch(raw, "wire", CFG).prepared


def test_a_batch_keeps_one_copy_and_points_the_others_at_it(tmp_path: Path) -> None:
    base = story(7)
    items = prepared(
        tmp_path,
        "day1",
        [
            news_record("Story", base),
            news_record("Story again", base, url="https://mirror.example/story"),
            news_record("Story, edited", edit_words(base, 3)),
            news_record("Other", story(8)),
        ],
    )
    decisions = match_batch(items, MemoryIndex(), CFG)
    assert [d.action for d in decisions] == ["keep", "exact", "near", "keep"]
    assert decisions[1].kept.batch_index == 0 and decisions[2].kept.batch_index == 0
    assert (decisions[2].measure, decisions[2].relation) == ("jaccard", "revision")


def test_a_correction_replaces_the_stored_version_under_first_seen(tmp_path: Path) -> None:
    index = MemoryIndex()
    text = story(9)
    original = prepared(tmp_path, "d1", [news_record("ACME CORP <ACM> 4TH QTR", text)])
    aid = index.store(original[0])
    corrected = prepared(
        tmp_path,
        "d2",
        [news_record("CORRECTED - ACME CORP <ACM> 4TH QTR", edit_words(text, 2), day=1)],
    )
    (decision,) = match_batch(corrected, index, CFG)
    assert decision.action == "replace" and decision.kept.article_id == aid


def test_the_same_notice_for_another_company_is_kept(tmp_path: Path) -> None:
    index = MemoryIndex()
    index.store(
        prepared(tmp_path, "d1", [news_record("AFFILIATED PUBLICATIONS <AFP> SETS PAYOUT", DIVIDEND)])[0]
    )
    other = prepared(tmp_path, "d2", [news_record("STANDARD MOTOR PRODUCTS <SMP> SETS PAYOUT", DIVIDEND)])
    again = prepared(tmp_path, "d3", [news_record("AFFILIATED PUBLICATIONS INC <AFP> PAYOUT", DIVIDEND)])
    assert match_batch(other, index, CFG)[0].action == "keep"  # equal text, another ticker
    assert match_batch(again, index, CFG)[0].action == "exact"


def test_a_word_for_word_bulletin_on_another_day_is_kept(tmp_path: Path) -> None:
    index = MemoryIndex()
    bulletin = (
        "The Federal Reserve entered the government securities market to arrange 1.5 billion dlrs of "
        "customer repurchase agreements, a Fed spokesman said. Dealers said federal funds were trading "
        "at 6-1/16 pct when the Fed began its temporary and indirect supply of reserves."
    )
    index.store(prepared(tmp_path, "d1", [news_record("FED ADDS RESERVES", bulletin, day=2)])[0])
    later = prepared(tmp_path, "d5", [news_record("FED ADDS RESERVES", bulletin, day=5)])
    resent = prepared(tmp_path, "d2", [news_record("FED ADDS RESERVES", bulletin, day=2)])
    assert match_batch(later, index, CFG)[0].action == "keep"
    assert match_batch(resent, index, CFG)[0].action == "exact"


def test_duplicate_actions_are_the_methods_the_warehouse_allows() -> None:
    from etl.dedup.matcher import Action
    from etl.warehouse import states

    assert {Action.EXACT.value, Action.NEAR.value} == set(states.DUPLICATE_METHODS)
