"""Plain-text articles (format ``text``): one article per file, as in the BBC News dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.errors import TerminalError
from etl.normalize import normalize_all
from etl.readers import detect_format, read_dump
from etl.records import Article, RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
TEXT = FIXTURES / "text"
BBC = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "bbc"


def test_title_body_and_no_date():
    (record,) = read_dump(TEXT / "business" / "001.txt")
    assert isinstance(record, RawRecord) and record.format == "text"
    assert record.locator == f"{TEXT / 'business' / '001.txt'}#0"
    f = record.fields
    assert f["title"] == "Harbour tolls rise at Port Ellery"
    assert f["body"].split("\n\n")[0].startswith("Port Ellery will raise its harbour tolls")
    assert len(f["body"].split("\n\n")) == 3
    assert f["published"] is None and f["encoding"] == "utf-8"
    (article,) = normalize_all([record], "bbc")
    assert isinstance(article, Article) and article.published_at is None


def test_latin1_file_with_crlf_is_decoded():
    (record,) = read_dump(TEXT / "sport" / "002.txt")
    assert record.fields["encoding"] in ("cp1252", "latin-1")
    assert "José Martínez." in record.fields["body"]
    assert "\r" not in record.fields["body"]


def test_detection_keeps_tass_files_for_tass_and_wants_the_extension(tmp_path: Path):
    for name in ("tass-seed-article.txt", "tass-concatenated.txt", "tass-no-time-line.txt"):
        path = FIXTURES / name
        assert detect_format(path, path.read_bytes()) == "tass"
    article = (TEXT / "business" / "001.txt").read_bytes()
    assert detect_format("x/001.txt", article) == "text"
    assert detect_format("x/001.TXT", article) == "text"
    with pytest.raises(TerminalError, match="cannot tell the format"):
        detect_format("x/001.dat", article)  # no signature: never chosen by content alone
    with pytest.raises(TerminalError, match="cannot tell the format"):
        detect_format("notes.txt", b"one line\nanother line right after\n")
    with pytest.raises(TerminalError, match="cannot tell the format"):
        detect_format("blob.txt", b"Title\n\n\x00\x01\x02 binary")
    assert detect_format("crawl.txt", b'{"title": "a"}\n\n{"title": "b"}\n') == "jsonl"
    assert detect_format("list.txt", b'[{"title": "a"}\n\n]') == "json_array"


def test_empty_and_title_only_files_are_one_reject_each(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    (reject,) = read_dump(empty, format="text")
    assert reject.reason_code == RejectReason.MISSING_BODY and "is empty" in reject.reason
    title_only = tmp_path / "t.txt"
    title_only.write_text("Only a title\n")
    out = list(normalize_all(read_dump(title_only, format="text"), "s"))
    assert [type(o) for o in out] == [Reject] and out[0].reason_code == RejectReason.MISSING_BODY


@pytest.mark.shared
@pytest.mark.skipif(not BBC.is_dir(), reason=f"the BBC corpus folder {BBC} is absent (see its README)")
def test_whole_bbc_folder_ingests_as_text(sqlite_url: str):
    """2,225 files, one article each; 98 are byte-identical copies, which the sha256 ledger skips."""
    from sqlalchemy import select

    from etl.config import IngestConfig, Settings
    from etl.dumps import discover
    from etl.runner import run_ingest
    from etl.warehouse.db import make_engine
    from etl.warehouse.models import Dump, RejectRow

    files = discover([str(BBC)])
    assert len(files) == 2225  # README.TXT is documentation, not a dump
    records = [r for f in files for r in read_dump(f.path)]
    assert len(records) == 2225 and all(r.format == "text" for r in records)

    engine = make_engine(sqlite_url)
    try:
        summary = run_ingest(
            engine, [str(BBC)], settings=Settings(ingest=IngestConfig(workers=0)), source="bbc"
        )
        with engine.connect() as conn:
            formats = set(conn.execute(select(Dump.format)).scalars())
            reasons = conn.execute(select(RejectRow.reason)).scalars().all()
    finally:
        engine.dispose()
    assert not summary.failures
    t = summary.totals
    assert (t.records, summary.dumps_skipped) == (2127, 98)
    assert t.records + summary.dumps_skipped == 2225
    assert formats == {"text"}
    assert not [r for r in reasons if "cannot tell the format" in r]
    assert t.articles + t.exact_duplicates + t.near_duplicates + t.rejects == t.records
