"""Containers: compressed files and archives, nesting, damage and hostile input, through read_dump."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from etl.readers import containers, read_dump
from etl.readers.containers import ContainerError, Limits, Member, iter_members
from etl.records import RawRecord, Reject, RejectReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
MIXED = (FIXTURES / "crawl-mixed.jsonl").read_bytes()  # 8 items: 5 records, 3 rejects
TASS = (FIXTURES / "tass-seed-article.txt").read_bytes()  # 1 record
TASS3 = (FIXTURES / "tass-concatenated.txt").read_bytes()  # 3 records
MIXED_KINDS = [RawRecord] * 2 + [Reject] * 3 + [RawRecord] * 3


def jsonl(count: int, start: int = 0) -> bytes:
    return b"".join(
        json.dumps({"title": f"Story {i}", "maintext": f"Body of story number {i}."}).encode() + b"\n"
        for i in range(start, start + count)
    )


def make_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz", extras: bool = False) -> Path:
    with tarfile.open(path, mode) as tf:
        if extras:  # a directory (skipped); a symlink, a hard link, a device, a FIFO (one reject each)
            for name, kind in (
                ("news", tarfile.DIRTYPE),
                ("link.jsonl", tarfile.SYMTYPE),
                ("hard.jsonl", tarfile.LNKTYPE),
                ("dev", tarfile.CHRTYPE),
                ("pipe", tarfile.FIFOTYPE),
            ):
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = "news/a.jsonl" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
                tf.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def check_ordinals(items: list[RawRecord | Reject]) -> None:
    assert [item.ordinal for item in items] == list(range(len(items)))


def kinds(items: list[RawRecord | Reject]) -> list[type]:
    return [type(item) for item in items]


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch):
    """Install test limits for the duration of a test; returns a setter."""

    def install(**kwargs) -> Limits:
        limits = Limits(**kwargs)
        monkeypatch.setattr(containers, "LIMITS", limits)
        return limits

    return install


# --- compressed files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
    ids=["gzip", "bzip2", "xz"],
)
def test_compressed_jsonl_reads_like_the_plain_file(tmp_path: Path, suffix: str, compress):
    path = tmp_path / f"crawl.jsonl{suffix}"
    path.write_bytes(compress(MIXED))
    items = list(read_dump(path))
    assert kinds(items) == MIXED_KINDS
    check_ordinals(items)
    assert [item.locator for item in items] == [f"{path}#{i}" for i in range(8)]
    plain = tmp_path / "crawl.jsonl"
    plain.write_bytes(MIXED)
    assert [item.fields for item in items if isinstance(item, RawRecord)] == [
        item.fields for item in read_dump(plain) if isinstance(item, RawRecord)
    ]


def test_compression_is_detected_by_content_not_name(tmp_path: Path):
    path = tmp_path / "download.jsonl"  # gzip inside, no .gz in the name
    path.write_bytes(gzip.compress(MIXED))
    assert kinds(list(read_dump(path))) == MIXED_KINDS
    tass = tmp_path / "article.txt"
    tass.write_bytes(bz2.compress(TASS))
    (record,) = read_dump(tass)
    assert record.fields["title"].startswith("Russian Aerospace Forces")


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path):
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(3)) + gzip.compress(jsonl(2, start=3)))
    items = list(read_dump(path))
    assert [item.fields["title"] for item in items] == [f"Story {i}" for i in range(5)]


def test_file_named_gz_that_is_not_gzip_is_rejected(tmp_path: Path):
    path = tmp_path / "crawl.jsonl.gz"
    path.write_bytes(MIXED)
    (reject,) = read_dump(path)
    assert reject.reason_code is RejectReason.UNREADABLE
    assert reject.locator == f"{path}#0"
    assert "named like a gzip file (.gz) but is not one" in reject.reason


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path: Path):
    full = jsonl(3000)
    packed = gzip.compress(full)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    *records, last = read_dump(path)
    assert 0 < len(records) < 3000
    assert all(isinstance(r, RawRecord) for r in records)  # the torn line is not a record of its own
    assert [r.fields["title"] for r in records] == [f"Story {i}" for i in range(len(records))]
    assert isinstance(last, Reject) and last.reason_code is RejectReason.UNREADABLE
    assert f"{path} is truncated or corrupt after {len(records)} record(s)" in last.reason
    assert "EOFError" in last.reason and "end-of-stream marker" in last.reason
    check_ordinals([*records, last])


def test_truncated_gzip_keeps_records_for_block_readers(tmp_path: Path):
    """TASS reads 64 KiB blocks: the bytes before the damage still reach it."""
    articles = [
        TASS.replace(b"Lavrov\n", b"Lavrov %d\n" % i, 1) + os.urandom(600).hex().encode() + b"\n"
        for i in range(120)
    ]  # ~300 KiB, compressing about 2:1
    packed = gzip.compress(b"".join(articles))
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(packed[: int(len(packed) * 0.7)])
    *records, last = read_dump(path)
    assert 70 < len(records) < 90  # every complete article before the cut, not only the first block
    assert [r.fields["title"].rsplit(" ", 1)[1] for r in records] == [str(i) for i in range(len(records))]
    assert last.reason_code is RejectReason.UNREADABLE and "truncated" in last.reason


def test_corrupt_gzip_data_is_one_reject_after_the_records(tmp_path: Path):
    packed = bytearray(gzip.compress(jsonl(3000)))
    middle = len(packed) // 2
    packed[middle : middle + 64] = b"\xff" * 64
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(packed))
    *items, last = read_dump(path)
    # Deflate notices the damage late (at the CRC, here): the lines decoded from the
    # damaged part are garbage and rejected one by one; what came before is intact.
    assert len(items) > 1000 and all(isinstance(r, RawRecord) for r in items[:1000])
    assert last.reason_code is RejectReason.UNREADABLE
    assert f"{path} is truncated or corrupt after" in last.reason
    assert "CRC check failed" in last.reason or "damaged compressed data" in last.reason
    check_ordinals([*items, last])


def test_torn_last_line_of_plain_file_costs_only_that_line(tmp_path: Path):
    path = tmp_path / "torn.jsonl"
    path.write_bytes(jsonl(4) + b'{"title": "Cut off", "maintext": "The oper')
    items = list(read_dump(path))
    assert kinds(items) == [RawRecord] * 4 + [Reject]
    assert items[-1].reason_code is RejectReason.MALFORMED
    assert items[-1].locator == f"{path}#4"
    assert items[-1].reason.startswith("line 5 is not valid JSON")


# --- archives --------------------------------------------------------------------------------


def test_zip_with_several_members(tmp_path: Path):
    path = make_zip(
        tmp_path / "day.zip",
        {
            "crawl.jsonl": MIXED,
            "news/": b"",  # a directory entry
            "news/tass.txt": TASS3,
            "__MACOSX/news/._tass.txt": b"\x00\x05\x16\x07 resource fork",
            "news/.DS_Store": b"\x00\x00\x00\x01Bud1",
            "more.jsonl": jsonl(2),
        },
    )
    items = list(read_dump(path))
    check_ordinals(items)
    assert kinds(items) == MIXED_KINDS + [RawRecord] * 5
    locators = [item.locator for item in items]
    assert locators[:8] == [f"{path}!crawl.jsonl#{i}" for i in range(8)]
    assert locators[3] == f"{path}!crawl.jsonl#3"
    assert locators[8:11] == [f"{path}!news/tass.txt#{i}" for i in range(3)]
    assert locators[11:] == [f"{path}!more.jsonl#0", f"{path}!more.jsonl#1"]
    assert items[8].format == "tass" and items[11].format == "jsonl"


def test_stored_zip_and_unknown_member_format(tmp_path: Path):
    path = make_zip(tmp_path / "x.zip", {"a.jsonl": jsonl(2), "README.md": b"# notes\n"}, zipfile.ZIP_STORED)
    items = list(read_dump(path))
    assert kinds(items) == [RawRecord, RawRecord, Reject]
    assert items[2].locator == f"{path}!README.md#0"
    assert "cannot tell the format" in items[2].reason


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"], ids=["tar.gz", "tar.bz2", "tar.xz", "tar"])
def test_tar_archives(tmp_path: Path, mode: str):
    suffix = {"w:gz": ".tar.gz", "w:bz2": ".tar.bz2", "w:xz": ".tar.xz", "w": ".tar"}[mode]
    path = make_tar(
        tmp_path / f"day{suffix}",
        {"news/a.jsonl": MIXED, "./news/b.txt": TASS, "news/._b.txt": b"junk"},
        mode,
        extras=True,
    )
    items = list(read_dump(path))
    check_ordinals(items)
    special, items = items[:4], items[4:]
    assert kinds(items) == MIXED_KINDS + [RawRecord]
    assert items[3].locator == f"{path}!news/a.jsonl#3"
    assert items[8].locator == f"{path}!news/b.txt#0"  # "./" dropped from the name
    assert [r.locator for r in special] == [
        f"{path}!{n}#0" for n in ("link.jsonl", "hard.jsonl", "dev", "pipe")
    ]
    assert all(r.reason_code == RejectReason.UNSUPPORTED for r in special)
    assert "a symbolic link to 'news/a.jsonl'" in special[0].reason
    assert "a hard link to 'news/a.jsonl'" in special[1].reason
    assert "a device file" in special[2].reason and "a FIFO" in special[3].reason


def test_tgz_shorthand_and_tar_detected_by_content(tmp_path: Path):
    tgz = make_tar(tmp_path / "day.tgz", {"a.jsonl": jsonl(2)})
    assert [r.locator for r in read_dump(tgz)] == [f"{tgz}!a.jsonl#0", f"{tgz}!a.jsonl#1"]
    disguised = tmp_path / "day.bin"
    disguised.write_bytes(tgz.read_bytes())
    assert len(list(read_dump(disguised))) == 2


def test_truncated_tar_gz_keeps_members_before_the_cut(tmp_path: Path):
    members = {f"part{i}.jsonl": jsonl(200, start=i * 200) for i in range(10)}
    full = make_tar(tmp_path / "full.tar.gz", members).read_bytes()
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(full[: len(full) // 2])
    items = list(read_dump(path))
    records = [r for r in items if isinstance(r, RawRecord)]
    rejects = [r for r in items if isinstance(r, Reject)]
    assert len(records) >= 200  # at least the first member whole
    assert [r.fields["title"] for r in records] == [f"Story {i}" for i in range(len(records))]
    assert rejects and all(r.reason_code is RejectReason.UNREADABLE for r in rejects)
    assert any("truncated" in r.reason for r in rejects)
    check_ordinals(items)


# --- nesting ---------------------------------------------------------------------------------


def test_zip_of_gzipped_jsonl_is_nested_once(tmp_path: Path):
    path = make_zip(
        tmp_path / "crawl.zip",
        {"2024-03-01.jsonl.gz": gzip.compress(jsonl(3)), "2024-03-02.jsonl.xz": lzma.compress(jsonl(2))},
        zipfile.ZIP_STORED,
    )
    items = list(read_dump(path))
    assert kinds(items) == [RawRecord] * 5
    assert items[0].locator == f"{path}!2024-03-01.jsonl.gz#0"
    assert items[4].locator == f"{path}!2024-03-02.jsonl.xz#1"
    check_ordinals(items)


def test_tar_gz_holding_a_zip(tmp_path: Path):
    inner = zip_bytes({"a.jsonl": jsonl(2), "b.txt": TASS})
    path = make_tar(tmp_path / "bundle.tar.gz", {"first.jsonl": jsonl(1), "inner.zip": inner})
    items = list(read_dump(path))
    assert [item.locator for item in items] == [
        f"{path}!first.jsonl#0",
        f"{path}!inner.zip!a.jsonl#0",
        f"{path}!inner.zip!a.jsonl#1",
        f"{path}!inner.zip!b.txt#0",
    ]
    assert kinds(items) == [RawRecord] * 4
    check_ordinals(items)


def test_zip_in_zip_is_read_and_one_level_deeper_is_refused(tmp_path: Path):
    """Nesting once: the zip inside is opened; a container inside *that* is refused.

    (zip > zip > file is one level of nesting, like .tar.gz > zip > file above;
    zip > zip > zip and zip > zip > .gz go one level further.)
    """
    innermost = zip_bytes({"deep.jsonl": jsonl(1)})
    inner = zip_bytes(
        {"ok.jsonl": jsonl(2), "deeper.zip": innermost, "deeper.jsonl.gz": gzip.compress(jsonl(1))}
    )
    path = make_zip(tmp_path / "outer.zip", {"inner.zip": inner, "top.jsonl": jsonl(1)})
    items = list(read_dump(path))
    assert kinds(items) == [RawRecord, RawRecord, Reject, Reject, RawRecord]
    assert items[0].locator == f"{path}!inner.zip!ok.jsonl#0"
    for reject, name, label in (
        (items[2], "deeper.zip", "zip archive"),
        (items[3], "deeper.jsonl.gz", "gzip file"),
    ):
        assert reject.reason_code is RejectReason.UNSUPPORTED
        assert reject.locator == f"{path}!inner.zip!{name}#0"
        assert f"is a {label} inside {path}!inner.zip, two containers deep" in reject.reason
        assert "nesting is limited to one level" in reject.reason
    assert items[4].locator == f"{path}!top.jsonl#0"
    check_ordinals(items)


def test_zip_inside_compressed_stream_larger_than_the_memory_cap_is_refused(tmp_path: Path, small_limits):
    small_limits(max_buffered_zip_bytes=1024)
    inner = zip_bytes(
        {f"m{i}.jsonl": jsonl(5, start=i * 5) for i in range(10)},
    )
    assert len(inner) > 1024
    path = make_tar(tmp_path / "bundle.tar.gz", {"inner.zip": inner, "after.jsonl": jsonl(1)})
    items = list(read_dump(path))
    assert kinds(items) == [Reject, RawRecord]
    assert items[0].reason_code is RejectReason.UNSUPPORTED
    assert "needs random access" in items[0].reason and "1.0 KiB" in items[0].reason


def test_large_nested_zip_is_read_in_place_when_it_can_be(tmp_path: Path, small_limits):
    """Inside an uncompressed tar or a zip, a zip above the memory cap is read where it lies."""
    small_limits(max_buffered_zip_bytes=1024)
    inner = zip_bytes({f"m{i}.jsonl": jsonl(5, start=i * 5) for i in range(10)})
    tar = make_tar(tmp_path / "bundle.tar", {"inner.zip": inner}, "w")
    assert len(list(read_dump(tar))) == 50
    outer = make_zip(tmp_path / "outer.zip", {"inner.zip": inner})
    items = list(read_dump(outer))
    assert len(items) == 50 and items[-1].locator == f"{outer}!inner.zip!m9.jsonl#4"


# --- hostile input ---------------------------------------------------------------------------


def test_zip_slip_names_are_refused(tmp_path: Path):
    path = make_zip(
        tmp_path / "evil.zip",
        {
            "../evil.jsonl": jsonl(1),
            "/etc/x.jsonl": jsonl(1),
            "ok/../../up.jsonl": jsonl(1),
            "good.jsonl": jsonl(1),
        },
    )
    items = list(read_dump(path))
    assert kinds(items) == [Reject, Reject, Reject, RawRecord]
    assert all(r.reason_code is RejectReason.UNSUPPORTED for r in items[:3])
    assert "'../evil.jsonl' climbs out of the archive with '..'" in items[0].reason
    assert "'/etc/x.jsonl' is an absolute path" in items[1].reason
    assert all("zip-slip" in r.reason for r in items[:3])
    assert items[3].locator == f"{path}!good.jsonl#0"
    assert not (tmp_path.parent / "evil.jsonl").exists()
    check_ordinals(items)


def test_tar_slip_names_are_refused(tmp_path: Path):
    path = make_tar(
        tmp_path / "evil.tar.gz", {"../evil.jsonl": jsonl(1), "/abs.jsonl": jsonl(1), "a.jsonl": jsonl(1)}
    )
    items = list(read_dump(path))
    assert kinds(items) == [Reject, Reject, RawRecord]
    assert "climbs out" in items[0].reason and "absolute path" in items[1].reason


def test_gzip_bomb_is_stopped_while_streaming(tmp_path: Path, small_limits):
    small_limits(max_ratio=50, ratio_after_bytes=1 << 20)
    line = json.dumps({"title": "Bomb", "maintext": "zero " * 40}).encode() + b"\n"
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(line * 200_000, compresslevel=9))  # ~47 MiB from ~100 KiB
    items = list(read_dump(path))
    *records, last = items
    assert 0 < len(records) < 20_000  # stopped after about 1 MiB, not 47
    assert all(isinstance(r, RawRecord) for r in records)
    assert last.reason_code is RejectReason.UNREADABLE
    assert "reading stopped after" in last.reason and "decompression bomb" in last.reason
    assert "decompression ratio above 50:1" in last.reason
    check_ordinals(items)


def test_member_size_limit_while_streaming(tmp_path: Path, small_limits):
    small_limits(max_member_bytes=100_000)
    path = tmp_path / "big.jsonl.xz"
    path.write_bytes(lzma.compress(jsonl(5000)))
    *records, last = read_dump(path)
    assert 0 < len(records) < 5000
    assert "may not decompress to more than 97.7 KiB (Limits.max_member_bytes)" in last.reason


def test_zip_bomb_is_refused_from_its_declared_sizes(tmp_path: Path, small_limits):
    small_limits(max_ratio=50, ratio_after_bytes=1 << 20)
    path = make_zip(tmp_path / "bomb.zip", {"zeros.jsonl": b" " * (20 << 20), "fine.jsonl": jsonl(2)})
    items = list(read_dump(path))
    assert kinds(items) == [Reject, RawRecord, RawRecord]
    assert items[0].reason_code is RejectReason.UNSUPPORTED
    assert items[0].locator == f"{path}!zeros.jsonl#0"
    assert "declares 20.0 MiB from" in items[0].reason and "ratio above 50:1" in items[0].reason


def test_too_many_members(tmp_path: Path, small_limits):
    small_limits(max_members=3)
    members = {f"m{i}.jsonl": jsonl(1, start=i) for i in range(5)}
    zipped = make_zip(tmp_path / "many.zip", members)
    (reject,) = read_dump(zipped)
    assert reject.reason_code is RejectReason.UNSUPPORTED
    assert "declares 5 entries, more than the 3 allowed" in reject.reason
    tarred = make_tar(tmp_path / "many.tar.gz", members)
    items = list(read_dump(tarred))
    assert kinds(items) == [RawRecord] * 3 + [Reject]
    assert "more than 3 entries" in items[-1].reason


def test_encrypted_zip_member_is_refused(tmp_path: Path):
    data = bytearray(zip_bytes({"secret.jsonl": jsonl(1), "open.jsonl": jsonl(1)}))
    directory = data.index(b"PK\x01\x02")  # zipfile cannot encrypt: set the flag by hand
    data[directory + 8] |= 0x1
    path = tmp_path / "locked.zip"
    path.write_bytes(bytes(data))
    items = list(read_dump(path))
    assert kinds(items) == [Reject, RawRecord]
    assert "it is encrypted" in items[0].reason


def test_not_a_zip_named_zip(tmp_path: Path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK\x03\x04 but nothing else")
    (reject,) = read_dump(path)
    assert reject.reason_code is RejectReason.UNREADABLE
    assert "is not a readable zip archive" in reject.reason


# --- laziness --------------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_members_are_streamed_one_at_a_time(tmp_path: Path):
    members = {f"part{i:03}.jsonl": os.urandom(64 * 1024).hex().encode() + b"\n" for i in range(80)}
    path = make_tar(tmp_path / "big.tar.gz", members)  # ~10 MiB decompressed
    before = _open_fds()
    tracemalloc.start()
    try:
        seen = 0
        for member in iter_members(path, str(path)):
            assert isinstance(member, Member)
            with member.open() as stream:
                assert stream.peek(16).startswith(members[member.name][:16])
                while stream.read(65536):
                    pass
            assert _open_fds() <= before + 1
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 80
    assert peak < 4 << 20  # never the whole 10 MiB archive
    assert _open_fds() == before


def test_archive_member_opens_once(tmp_path: Path):
    path = make_zip(tmp_path / "x.zip", {"a.jsonl": jsonl(1)})
    members = iter_members(path, str(path))
    member = next(members)
    with member.open() as stream:
        assert stream.readline().startswith(b'{"title": "Story 0"')
    with pytest.raises(ContainerError, match="can be opened once"), member.open():
        pass
    members.close()


def test_gzipped_warc_goes_to_its_reader_still_compressed(tmp_path: Path):
    """warcio reads per-record gzip itself (and reports damage per record): no decompression here."""
    record = b"WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n\r\n\r\n"
    for name in ("crawl.warc.gz", "crawl.bin"):  # by name, and by content
        path = tmp_path / name
        path.write_bytes(gzip.compress(record))
        members = iter_members(path, str(path))
        member = next(members)  # read before asking for the next: the walker then closes it
        assert member.name == name
        with member.open() as stream:
            assert stream.read(2) == b"\x1f\x8b"
        assert next(members, None) is None


def test_a_reader_bug_costs_the_rest_of_one_member_not_the_dump(tmp_path: Path, monkeypatch):
    import dataclasses

    from etl import readers

    def broken(stream, location, max_record_bytes):
        yield RawRecord(f"{location}#0", 0, "jsonl", {"body": "x"})
        raise KeyError("boom")

    monkeypatch.setitem(readers.SPECS, "jsonl", dataclasses.replace(readers.SPECS["jsonl"], reader=broken))
    path = make_zip(tmp_path / "d.zip", {"a.jsonl": jsonl(3), "b.txt": TASS})
    items = list(read_dump(path))
    assert kinds(items) == [RawRecord, Reject, RawRecord]
    assert "the reader failed unexpectedly after 1 record(s) (KeyError: 'boom')" in items[1].reason
