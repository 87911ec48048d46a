"""Computing in bulk changes nothing: datasketch's signatures, and the reference matcher's decisions."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from etl.batches import prepare_batch
from etl.config import DedupConfig
from etl.dedup.features import shared_shingles_many, text_features
from etl.dedup.matcher import RECENT, match_batch
from etl.dedup.signatures import HASHFUNCS, sign, sign_tokens
from etl.readers import read_dump
from etl.text import words
from etl.warehouse.db import make_engine
from etl.warehouse.index import SqlIndex
from etl.warehouse.ledger import claim_dump, start_run
from etl.warehouse.load import load_batch
from etl.warehouse.schema import prepare_warehouse
from tests.conftest import edit_words, news_record, story, write_jsonl
from tests.dedup import reference_matcher

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
VOCAB = ["alpha", "beta", "Gamma", "1.5", "été", "naïve", "日本", "x", "tax", "£5m", "٣", "Ü-boot"]


def random_texts(rng: random.Random, n: int) -> list[str]:
    """Empty, one-word, exactly-one-shingle, lead-length and long texts, non-ASCII included."""
    lengths = [0, 1, 4, 5, 6, 29, 30, 31, 34, 35, 300]
    return [" ".join(rng.choice(VOCAB) for _ in range(rng.choice(lengths))) for _ in range(n)]


def datasketch_row(shingles: set[bytes], num_perm: int, cfg: DedupConfig) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=cfg.seed, scheme=cfg.scheme, hashfunc=HASHFUNCS[cfg.hashfunc])
    m.update_batch(list(shingles))
    return m.hashvalues.astype(np.uint64)


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
@pytest.mark.parametrize("hashfunc", ["words", "xxh32", "sha1"])
def test_bulk_signatures_equal_datasketch_minhash_on_random_texts(scheme: str, hashfunc: str) -> None:
    cfg = DedupConfig(scheme=scheme, hashfunc=hashfunc, seed=3, lead_words=4 if scheme == "legacy" else 30)
    texts = random_texts(random.Random(f"{scheme}{hashfunc}"), 80)
    signatures, keys = sign(texts, cfg)
    lead_perm = cfg.lead_bands * cfg.lead_rows
    for text, row, row_keys in zip(texts, signatures, keys, strict=True):
        tokens = words(text)
        expected = datasketch_row(_shingles(tokens, cfg.shingle_size), cfg.num_perm, cfg)
        assert np.array_equal(row, expected), text
        alone = sign_tokens([tokens], cfg)[1][0]  # a text's keys do not depend on its batch
        assert np.array_equal(row_keys, alone)
    # the lead keys are those of datasketch's lead signatures
    from etl.dedup.signatures import _keys

    leads = np.vstack(
        [
            datasketch_row(_shingles(words(t)[: cfg.lead_words], cfg.shingle_size), lead_perm, cfg)
            for t in texts
        ]
    )
    assert np.array_equal(keys[:, cfg.bands :], _keys(leads, cfg.lead_bands, cfg.lead_rows, cfg.bands))


def _shingles(tokens: list[str], size: int) -> set[bytes]:
    return reference_matcher.shingles_of(tokens, size)


def test_features_count_what_string_shingle_sets_count() -> None:
    rng = random.Random(5)
    texts = random_texts(rng, 40) + [story(i, words=120) for i in range(10)]
    texts += [edit_words(t, 4) for t in texts[-10:]] + [t[: len(t) // 2] for t in texts[-10:]]
    feats = [text_features(t, 5) for t in texts]
    old = [reference_matcher.features(t, 5) for t in texts]
    for i, f in enumerate(feats):
        assert f.shingle_count == len(old[i].shingles)
        assert f.figures == {tok.decode() for tok in reference_matcher._figures(old[i].shingles)}
        counts = shared_shingles_many(f, feats)
        assert counts.tolist() == [len(old[i].shingles & o.shingles) for o in old]


def near_duplicate_records(seed: int, n_base: int) -> list[dict]:
    """Stories and their variants: edits, truncations, updates, re-titled copies, new figures."""
    rng = random.Random(seed)
    bases = [story(seed * 1000 + i, words=rng.choice([40, 90, 220])) for i in range(n_base)]
    if (CORPORA / "reuters21578").is_dir():
        reuters = CORPORA / "reuters21578" / "reut2-000.sgm"
        bases += [r.fields["body"] for r in read_dump(reuters) if r.fields.get("body")][seed : seed + n_base]
    out = []
    for i, body in enumerate(bases):
        out.append(news_record(f"Story {seed} {i}", body, day=1 + i % 28, url=f"u:{seed}:{i}"))
        tokens = body.split(" ")
        variants = [
            edit_words(body, rng.randint(1, 8), seed=i),
            " ".join(tokens[: max(10, int(len(tokens) * rng.uniform(0.4, 0.95)))]),
            body + "\n\nThe ministry said on Friday it would publish revised figures later this month.",
            body.replace("1", "7", 1),  # a changed figure: another report
            body,  # an exact copy under a new title
        ]
        for k, v in enumerate(rng.sample(variants, rng.randint(1, len(variants)))):
            out.append(
                news_record(f"Update {k}: story {i}", v, day=1 + (i + k) % 28, url=f"v:{seed}:{i}:{k}")
            )
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("policy", ["first_seen", "longest", "latest"])
def test_matcher_takes_the_reference_matchers_decisions(pg_url: str, tmp_path: Path, policy: str) -> None:
    # The reference is the texts-only matcher: the headline, time and re-issue rules
    # (etl.dedup.rules, tested on their own) are off here.
    cfg = replace(DedupConfig(), policy=policy, context_rules=False, headline_keys=False)
    engine = make_engine(pg_url)
    prepare_warehouse(engine, cfg)
    first = prepare_batch(
        list(read_dump(write_jsonl(tmp_path / "a.jsonl", near_duplicate_records(1, 40)))), "t", cfg
    )
    second = prepare_batch(
        list(
            read_dump(
                write_jsonl(
                    tmp_path / "b.jsonl", near_duplicate_records(1, 40)[::2] + near_duplicate_records(2, 30)
                )
            )
        ),
        "t",
        cfg,
    )
    start_run(engine, "r", "ingest", {})
    state = claim_dump(engine, source="t", location="a", sha256="a", size=1, fmt="jsonl", run_id="r")
    load_batch(
        engine,
        dump_id=state.id,
        run_id="r",
        source="t",
        prepared=first.prepared,
        rejects=[],
        end=10**6,
        cfg=cfg,
    )
    for batch, cold in ((first, True), (second, True), (second, False)):
        if cold:  # stored candidates' features computed from their fetched texts, else from RECENT
            RECENT.clear()
        with engine.connect() as conn:
            new = match_batch(batch.prepared, SqlIndex(conn), cfg)
            old = reference_matcher.match_batch(batch.prepared, SqlIndex(conn), cfg)
        assert new == old
        assert {d.action for d in new} >= {"exact", "near"}
        assert {d.measure for d in new} >= {"hash", "jaccard", "containment"}
    engine.dispose()
