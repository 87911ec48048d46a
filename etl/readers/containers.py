"""Opening dump files: plain files, compressed files and archives, as a stream of members.

A dump may be a plain file, a compressed file (gzip, bzip2, xz: recognised by
their magic bytes, whatever the name says), or an archive (zip, tar, and tar
compressed by any of the three). :func:`iter_members` yields one
:class:`Member` per readable file inside, in archive order, and a
:class:`~etl.records.Reject` for every member it refuses, with a sentence saying
why; the rest of the archive goes on.

Members of an archive are named by their inner path and located as
``<outer location>!<inner path>`` (``day.zip!feeds/a.jsonl``); a compressed file
keeps the location of the file and loses the compression suffix from its name
(``a.jsonl.gz`` is read as ``a.jsonl``), so the format is detected as usual.

Nesting: one container inside another is opened (a zip of ``.jsonl.gz`` files,
a ``.tar.gz`` holding a zip, a zip holding a zip); a compressed tar counts as
one container. A container found inside that is refused (``UNSUPPORTED``): the
limit keeps the depth of streams, and of surprises, bounded.

Skipped without a reject (they are not records): directories, and hidden or
operating-system files (``__MACOSX/``, ``.DS_Store``, ``._x``, any path part
starting with a dot, as :func:`etl.dumps.discover` does for folders,
``Thumbs.db``, ``desktop.ini``). Symbolic and hard links, device files and FIFOs
are not read (a link may point outside the archive, a device or FIFO has no
content) but each becomes an ``UNSUPPORTED`` reject located
``dump.tar!member``, so the archive's listing and the warehouse agree.

Safety. Nothing is ever written to disk: members are streamed. Names that are
absolute or contain ``..`` (the "zip-slip" shape) are refused all the same.
Decompression is bounded by :data:`LIMITS` (see :class:`Limits`): declared sizes
are checked before a zip member is opened, and every decompressed stream counts
its bytes while it is read and raises :class:`DecompressionLimitError` (a
``ValueError``) when a bound is passed, which :func:`etl.readers.read_dump` turns
into one reject after the records already read. Damaged compressed data raises
``EOFError``/``OSError`` or :class:`ContainerError` (also a ``ValueError``), never
a library-specific exception, so the same handler applies.

Laziness: nothing is opened before it is needed, and at most one member (plus
its enclosing archives) is open at a time. Members of an archive are *one-shot*:
the stream is opened by the walker, can be entered once through
``Member.open()``, and must be read before the next member is requested (tar
archives are read as a stream and cannot go back). A plain file can be opened
any number of times.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from etl.records import Reject, RejectReason

BUFFER = 64 * 1024
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
HEAD = 512  # enough for every magic number, the tar one sits at offset 257
MAX_DEPTH = 2  # containers around a member: the dump's own and one nested inside it


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds against decompression bombs and hostile archives.

    ``max_member_bytes``: the most one member may decompress to. 2 GiB is far
    above any real news file (a big monthly JSONL dump is a few hundred MiB) and
    small enough that a runaway member is stopped within a minute.

    ``max_ratio``: decompressed / compressed bytes, checked only after
    ``ratio_after_bytes`` have come out (tiny files compress oddly). Text
    compresses 3-15:1, repetitive JSON up to ~50:1; bombs reach 1000:1 (deflate)
    and far beyond (bzip2, nested). 200:1 leaves real data a wide margin. For a
    compressed tar the ratio is that of the whole tar stream, and each member is
    held to ``max_member_bytes``.

    ``max_members``: entries per archive (directories included). A zip declaring
    more is refused before its directory is loaded (zipfile would load all of it
    into memory); a tar is read up to the limit, then one reject ends it.

    ``max_buffered_zip_bytes``: a zip needs random access, which a zip inside a
    compressed stream (``.tar.gz``, ``.zip.gz``) does not have; such a zip is read
    into memory, up to this size, otherwise refused. A zip inside a zip or inside
    an uncompressed tar is read in place when larger.
    """

    max_member_bytes: int = 2 * GiB
    max_ratio: float = 200.0
    ratio_after_bytes: int = 1 * MiB
    max_members: int = 100_000
    max_buffered_zip_bytes: int = 256 * MiB


#: The limits :func:`iter_members` applies when none are passed (read at each call,
#: so tests and callers may replace it).
LIMITS = Limits()


class ContainerError(ValueError):
    """Damaged compressed data or archive member (zlib, lzma, zip and tar errors, unified)."""


class DecompressionLimitError(ContainerError):
    """Decompression was stopped by one of the :class:`Limits`."""


@dataclass(frozen=True, slots=True)
class Member:
    """One readable file inside a dump: the dump itself, or a file in an archive.

    ``name`` is used for format detection by extension; ``location`` prefixes the
    locators of its records; ``open()`` gives a buffered binary stream with ``peek``.
    """

    name: str
    location: str
    open: Callable[[], AbstractContextManager[BinaryIO]]


def iter_members(path: Path, location: str, limits: Limits | None = None) -> Iterator[Member | Reject]:
    """The members of the dump at ``path``, lazily, in archive order (see the module docstring)."""
    limits = limits or LIMITS
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD)
    except OSError as exc:
        yield _reject(location, RejectReason.UNREADABLE, f"{location} could not be opened: {exc}")
        return
    kind = sniff_container(head)
    claimed = _claimed(path.name)
    if kind is None and claimed == "zip" and zipfile.is_zipfile(path):
        kind = "zip"  # data before the zip (a self-extractor stub): zipfile copes
    if kind is None and claimed is None:
        yield Member(path.name, location, partial(_open_file, path))
    elif kind == "zip":
        yield from _zip_file(path, location, limits)
    else:
        with _open_file(path) as stream:
            yield from _entry(path.name, location, stream, 0, limits, origin=path)


def sniff_container(head: bytes) -> str | None:
    """``gzip``, ``bzip2``, ``xz``, ``zip`` or ``tar`` from the first bytes; None for anything else.

    >>> sniff_container(b"\\x1f\\x8b\\x08\\x00"), sniff_container(b'{"title": 1}')
    ('gzip', None)
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    if head[257:262] == b"ustar":
        return "tar"
    return None


_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
)
_SUFFIXES = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".tgz": "gzip",
    ".bz2": "bzip2",
    ".tbz": "bzip2",
    ".tbz2": "bzip2",
    ".xz": "xz",
    ".txz": "xz",
    ".zip": "zip",
    ".tar": "tar",
}
_TAR_SHORTHANDS = (".tgz", ".tbz", ".tbz2", ".txz")
_LABELS = {
    "gzip": "gzip file",
    "bzip2": "bzip2 file",
    "xz": "xz file",
    "zip": "zip archive",
    "tar": "tar archive",
}
_DECOMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": lambda raw: bz2.BZ2File(raw, "rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, "rb"),  # noqa: SIM115 - closed by the _Guard around it
}
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# Errors that mean "this data is damaged"; the first group is unified into ContainerError.
_LIBRARY_ERRORS = (zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)
_READ_ERRORS = (OSError, EOFError, ValueError, *_LIBRARY_ERRORS)
_SELF_DECOMPRESSING = (b"WARC/", b"filedesc://")  # gzipped WARC and ARC files
_JUNK_NAMES = {"thumbs.db", "desktop.ini"}
_SEPARATORS = re.compile(r"[/\\]")


# --- walking ---------------------------------------------------------------------------


def _entry(
    name: str,
    location: str,
    stream: BinaryIO,
    depth: int,
    limits: Limits,
    *,
    size: int | None = None,
    random_access: Callable[[], BinaryIO] | None = None,
    origin: Path | None = None,
) -> Iterator[Member | Reject]:
    """Whatever one open stream holds: a member, or the members of the container it is.

    ``depth`` counts the containers around ``stream``; ``origin`` is the file
    itself when ``stream`` is a whole uncompressed file (its tar members can then
    be read in place); ``size`` and ``random_access`` describe an archive member.
    The caller owns ``stream`` and closes it after this generator is done.
    """
    try:
        head = stream.peek(HEAD)[:HEAD]
    except _READ_ERRORS:
        head = None  # the reader meets the same error and reports it
    kind = sniff_container(head) if head is not None else None
    claimed = _claimed(name)
    if kind is None:
        if head is None or claimed is None:
            yield _one_shot(name, location, stream)
            return
        if claimed != "tar":  # an old tar may lack the "ustar" mark: tarfile decides
            yield _reject(
                location,
                RejectReason.UNREADABLE,
                f"{location} is named like a {_LABELS[claimed]} ({PurePosixPath(name).suffix}) but is "
                f"not one: its first bytes are not a {claimed} header. Rename it if it is plain "
                "text, or fetch it again if it was damaged in transfer.",
            )
            return
        kind = "tar"
    if kind == "gzip" and _reads_own_gzip(name, head, stream):
        yield _one_shot(name, location, stream)
        return
    if depth >= MAX_DEPTH:
        where = f"inside {location.rsplit('!', 1)[0]}, " if "!" in location else ""
        yield _reject(
            location,
            RejectReason.UNSUPPORTED,
            f"{location} is a {_LABELS[kind]} {where}two containers deep: nesting is limited to "
            "one level (one archive or compressed file inside another), so it was not opened. "
            "Unpack the outer archive and load what it holds.",
        )
        return
    if kind == "tar":
        yield from _tar(stream, location, depth + 1, limits, origin)
    elif kind == "zip":
        yield from _nested_zip(location, stream, depth + 1, limits, size, random_access)
    else:
        yield from _compressed(name, location, stream, kind, depth + 1, limits)


def _compressed(
    name: str, location: str, stream: BinaryIO, kind: str, depth: int, limits: Limits
) -> Iterator[Member | Reject]:
    """A gzip/bzip2/xz stream: a compressed tar, or a single (possibly container) member."""
    inner_name = _strip_compression(name)
    with _decompress(stream, kind, limits) as inner:
        try:
            inner_head = inner.peek(HEAD)[:HEAD]
        except _READ_ERRORS:
            inner_head = b""
        if sniff_container(inner_head) == "tar" or (inner_head and _claimed(inner_name) == "tar"):
            # A compressed tar is one container; its members are bounded one by one.
            inner.raw.max_bytes = None
            yield from _tar(inner, location, depth, limits)
        else:
            yield from _entry(inner_name, location, inner, depth, limits)


def _zip_from(source: BinaryIO, location: str, depth: int, limits: Limits) -> Iterator[Member | Reject]:
    """Members of the zip in ``source`` (closed afterwards), or one reject saying why it cannot be read."""
    with source:
        try:
            problem = _too_many_zip_entries(source, location, limits)
            archive = None if problem else zipfile.ZipFile(source)
        except (*_READ_ERRORS, RuntimeError) as exc:
            problem = _reject(location, RejectReason.UNREADABLE, _not_readable(location, "zip archive", exc))
        if problem:
            yield problem
            return
        with archive:
            yield from _zip_members(archive, location, depth, limits)


def _zip_file(path: Path, location: str, limits: Limits) -> Iterator[Member | Reject]:
    try:
        source = path.open("rb")
    except _READ_ERRORS as exc:
        yield _reject(location, RejectReason.UNREADABLE, _not_readable(location, "zip archive", exc))
        return
    yield from _zip_from(source, location, 1, limits)


def _nested_zip(
    location: str,
    stream: BinaryIO,
    depth: int,
    limits: Limits,
    size: int | None,
    random_access: Callable[[], BinaryIO] | None,
) -> Iterator[Member | Reject]:
    """A zip inside another container: in memory when small enough, else read in place."""
    cap = limits.max_buffered_zip_bytes
    if random_access is not None and (size is None or size > cap):
        source: BinaryIO = random_access()
    elif size is not None and size > cap:
        yield _zip_too_big(location, size, cap)
        return
    else:
        try:
            data = stream.read(cap + 1)
        except _READ_ERRORS as exc:
            yield _reject(location, RejectReason.UNREADABLE, _not_readable(location, "zip archive", exc))
            return
        if len(data) > cap:
            yield _zip_too_big(location, None, cap)
            return
        source = io.BytesIO(data)
    yield from _zip_from(source, location, depth, limits)


def _zip_members(
    archive: zipfile.ZipFile, location: str, depth: int, limits: Limits
) -> Iterator[Member | Reject]:
    for index, info in enumerate(archive.infolist()):
        if index >= limits.max_members:  # the declared count lied
            yield _too_many(location, limits)
            return
        member_location = f"{location}!{info.filename}"
        refusal = _refuse_name(info.filename, member_location)
        if refusal:
            yield refusal
            continue
        mode = info.external_attr >> 16
        if info.is_dir() or _is_junk(info.filename):
            continue
        if stat.S_ISLNK(mode):
            yield _special(member_location, "a symbolic link")
            continue
        refusal = _refuse_zip_member(info, member_location, limits)
        if refusal:
            yield refusal
            continue
        try:
            raw = archive.open(info)
        except (*_READ_ERRORS, RuntimeError) as exc:
            yield _reject(
                member_location, RejectReason.UNREADABLE, _not_readable(member_location, "zip member", exc)
            )
            continue
        compressed = partial(int, info.compress_size)  # zipfile reads no more than this
        with _guarded(raw, limits, compressed=compressed, max_bytes=limits.max_member_bytes) as stream:
            yield from _entry(
                info.filename,
                member_location,
                stream,
                depth,
                limits,
                size=info.file_size,
                random_access=partial(archive.open, info),
            )


def _tar(
    stream: BinaryIO, location: str, depth: int, limits: Limits, origin: Path | None = None
) -> Iterator[Member | Reject]:
    """Members of a tar read as a stream (``r|``): forward only, nothing held but the current one."""
    try:
        archive = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 - entered just below
    except _READ_ERRORS as exc:
        yield _reject(location, RejectReason.UNREADABLE, _not_readable(location, "tar archive", exc))
        return
    with archive:
        seen = 0
        while True:
            try:
                info = archive.next()
            except _READ_ERRORS as exc:
                yield _reject(
                    location,
                    RejectReason.UNREADABLE,
                    f"{location} is truncated or corrupt after {seen} member(s): "
                    f"{type(exc).__name__}: {exc}; the members before the damage were read.",
                )
                return
            if info is None:
                return
            archive.members.clear()  # streaming: no need to remember past members
            seen += 1
            if seen > limits.max_members:
                yield _too_many(location, limits)
                return
            name = _strip_dot_slash(info.name)
            member_location = f"{location}!{name}"
            refusal = _refuse_name(info.name, member_location)
            if refusal:
                yield refusal
                continue
            if info.isdir() or _is_junk(name):
                continue
            if not info.isreg():
                yield _special(member_location, _special_kind(info))
                continue
            if info.size > limits.max_member_bytes:
                yield _reject(
                    member_location,
                    RejectReason.UNSUPPORTED,
                    f"{member_location} is {_size(info.size)}, more than the "
                    f"{_size(limits.max_member_bytes)} allowed per member (Limits.max_member_bytes); "
                    "it was not read.",
                )
                continue
            try:
                raw = archive.extractfile(info)
            except _READ_ERRORS as exc:
                yield _reject(
                    member_location,
                    RejectReason.UNREADABLE,
                    _not_readable(member_location, "tar member", exc),
                )
                continue
            in_place = partial(_Window, origin, info.offset_data, info.size) if origin is not None else None
            # Tar members are stored, not compressed: the ratio is checked on the stream around the tar.
            with _guarded(raw, limits, max_bytes=limits.max_member_bytes) as member_stream:
                yield from _entry(
                    name,
                    member_location,
                    member_stream,
                    depth,
                    limits,
                    size=info.size,
                    random_access=in_place,
                )


# --- streams ---------------------------------------------------------------------------


def _open_file(path: Path) -> io.BufferedReader:
    return io.BufferedReader(io.FileIO(path, "rb"), buffer_size=BUFFER)


def _one_shot(name: str, location: str, stream: BinaryIO) -> Member:
    """A member whose stream is already open (owned by the walker, which closes it)."""
    used = False

    @contextmanager
    def opener() -> Iterator[BinaryIO]:
        nonlocal used
        if used:
            raise ContainerError(
                f"{location} was already read: members of an archive are streamed and can be opened once"
            )
        used = True
        yield stream

    return Member(name, location, opener)


def _decompress(source: BinaryIO, kind: str, limits: Limits) -> _Reader:
    counted = _Counted(source)
    return _guarded(
        _DECOMPRESSORS[kind](counted),
        limits,
        compressed=lambda: counted.count,
        max_bytes=limits.max_member_bytes,
        also_close=(counted,),
    )


def _guarded(
    inner: BinaryIO,
    limits: Limits,
    *,
    compressed: Callable[[], int] | None = None,
    max_bytes: int | None = None,
    also_close: tuple[io.IOBase, ...] = (),
) -> _Reader:
    return _Reader(_Guard(inner, limits, compressed, max_bytes, also_close))


class _Counted(io.RawIOBase):
    """Counts the (compressed) bytes a decompressor takes from its source."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0
        self._read = getattr(inner, "read1", inner.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _Guard(io.RawIOBase):
    """A decompressing stream whose output is held to :class:`Limits` while it is read.

    Counts the bytes that come out, and raises :class:`DecompressionLimitError`
    when a bound is passed; the errors of the compression libraries become
    :class:`ContainerError`. Any error is sticky: the stream stays failed.
    """

    def __init__(
        self,
        inner: BinaryIO,
        limits: Limits,
        compressed: Callable[[], int] | None,
        max_bytes: int | None,
        also_close: tuple[io.IOBase, ...],
    ) -> None:
        self.inner = inner
        self.limits = limits
        self.compressed = compressed
        self.max_bytes = max_bytes
        self.produced = 0
        self._also_close = also_close
        self._error: BaseException | None = None
        self._read = getattr(inner, "read1", inner.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._error is not None:
            raise self._error
        try:
            chunk = self._read(len(buffer))
        except _LIBRARY_ERRORS as exc:
            self._error = ContainerError(f"damaged compressed data ({type(exc).__name__}: {exc})")
            raise self._error from exc
        except (OSError, EOFError, ValueError) as exc:
            self._error = exc
            raise
        buffer[: len(chunk)] = chunk
        self.produced += len(chunk)
        self._check()
        return len(chunk)

    def _check(self) -> None:
        produced = self.produced
        if self.max_bytes is not None and produced > self.max_bytes:
            self._error = DecompressionLimitError(
                f"stopped after {produced:,} bytes: a member may not decompress to more than "
                f"{_size(self.max_bytes)} (Limits.max_member_bytes)"
            )
        elif self.compressed is not None and produced > self.limits.ratio_after_bytes:
            taken = max(1, self.compressed())
            if produced > taken * self.limits.max_ratio:
                self._error = DecompressionLimitError(
                    f"stopped after {produced:,} bytes: decompression ratio above "
                    f"{self.limits.max_ratio:g}:1 ({produced:,} bytes out of {taken:,} compressed), "
                    "the mark of a decompression bomb; if the file is genuine, raise Limits.max_ratio"
                )
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if not self.closed:
            try:
                self.inner.close()
                for other in self._also_close:
                    other.close()
            finally:
                super().close()


class _Reader(io.BufferedIOBase):
    """A buffered reader (with ``peek``) that hands out the bytes read before an error first.

    ``io.BufferedReader`` drops the bytes it gathered in a call when the raw
    stream then fails, so a reader asking for 64 KiB of a truncated gzip would
    lose everything before the cut. Here ``read``/``read1``/``peek`` return what
    arrived, and the error is raised by the next call that finds nothing
    buffered. ``readline`` raises at once instead of returning a line cut short
    by damage: the line is incomplete, and the error reports it.
    """

    def __init__(self, raw: _Guard, buffer_size: int = BUFFER) -> None:
        super().__init__()
        self.raw = raw
        self._size = buffer_size
        self._buf = bytearray()
        self._eof = False
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            try:
                self.raw.close()
            finally:
                super().close()

    def _fill(self, wanted: int) -> None:
        """Read until ``wanted`` bytes are buffered, the end, or an error (kept for later)."""
        while len(self._buf) < wanted and not self._eof and self._error is None:
            try:
                chunk = self.raw.read(max(self._size, wanted - len(self._buf)))
            except _READ_ERRORS as exc:
                self._error = exc
                break
            if chunk:
                self._buf += chunk
            else:
                self._eof = True

    def _take(self, size: int) -> bytes:
        if not self._buf and self._error is not None:
            raise self._error
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def peek(self, size: int = 0) -> bytes:
        self._check_open()
        self._fill(max(size, 1))
        if not self._buf and self._error is not None:
            raise self._error
        return bytes(self._buf)

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            while not self._eof and self._error is None:
                self._fill(len(self._buf) + self._size)
            return self._take(len(self._buf))
        if size == 0:
            return b""
        self._fill(size)
        return self._take(size)

    def read1(self, size: int = -1) -> bytes:
        self._check_open()
        if size == 0:
            return b""
        if not self._buf:
            self._fill(1)
        return self._take(size if size > 0 else len(self._buf))

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readinto1(self, buffer) -> int:
        data = self.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        self._check_open()
        limit = size if size is not None and size >= 0 else None
        searched = 0
        while True:
            newline = self._buf.find(b"\n", searched)
            if newline >= 0:
                end = newline + 1
                break
            if (limit is not None and len(self._buf) >= limit) or self._eof:
                end = len(self._buf)
                break
            if self._error is not None:
                self._buf.clear()  # a line cut short by the damage
                raise self._error
            searched = len(self._buf)
            self._fill(len(self._buf) + 1)
        return self._take(end if limit is None else min(end, limit))


class _Window(io.RawIOBase):
    """Random access to one member of an uncompressed tar file, read in place."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file = io.FileIO(path, "rb")
        self._start = offset
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        self._file.seek(self._start + self._pos)
        data = self._file.read(wanted)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


# --- names and refusals ------------------------------------------------------------------


def _reads_own_gzip(name: str, head: bytes, stream: BinaryIO) -> bool:
    """A gzipped WARC/ARC, which goes to its reader still compressed.

    WARC files are gzipped record by record so that tools can read, verify and
    skip records one by one; warcio reads them that way and reports damage per
    record (see :mod:`etl.readers.warc`), better than a reject for the whole
    stream. The decompression limits do not apply to them: the WARC reader
    bounds each payload itself.
    """
    if PurePosixPath(name.lower()).suffixes[-2:] in ([".warc", ".gz"], [".arc", ".gz"]):
        return True
    try:
        compressed = stream.peek(BUFFER)[:BUFFER]
        inner = zlib.decompressobj(wbits=31).decompress(compressed, 64)
    except (*_READ_ERRORS, AttributeError):
        return False
    return inner.startswith(_SELF_DECOMPRESSING)


def _claimed(name: str) -> str | None:
    """The container a file name claims to be (by its last suffix)."""
    return _SUFFIXES.get(PurePosixPath(name).suffix.lower())


def _strip_compression(name: str) -> str:
    """``a.jsonl.gz`` -> ``a.jsonl``, ``a.tgz`` -> ``a.tar``; other names unchanged."""
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    if suffix in _TAR_SHORTHANDS:
        return str(path.with_suffix(".tar"))
    if _SUFFIXES.get(suffix) in ("gzip", "bzip2", "xz"):
        return str(path.with_suffix(""))
    return name


def _strip_dot_slash(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _parts(name: str) -> list[str]:
    return [part for part in _SEPARATORS.split(name) if part not in ("", ".")]


def _is_junk(name: str) -> bool:
    parts = _parts(name)
    return (
        not parts
        or parts[-1].lower() in _JUNK_NAMES
        or any(part == "__MACOSX" or part.startswith(".") for part in parts)
    )


def _refuse_name(name: str, location: str) -> Reject | None:
    """A reject for a name that is absolute or climbs out with ``..`` (zip-slip), else None."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        problem = "is an absolute path"
    elif ".." in _SEPARATORS.split(name):
        problem = "climbs out of the archive with '..'"
    else:
        return None
    return _reject(
        location,
        RejectReason.UNSUPPORTED,
        f"{location} was refused: its name {name!r} {problem}, the shape of a path-traversal "
        "('zip-slip') attack. Nothing is extracted to disk, but such a member is not read either.",
    )


def _refuse_zip_member(info: zipfile.ZipInfo, location: str, limits: Limits) -> Reject | None:
    """Checks on a zip member's declared properties, before anything is decompressed."""
    if info.flag_bits & 0x1:
        why = "it is encrypted, and dumps are read without passwords"
    elif info.compress_type not in _ZIP_METHODS:
        why = f"it uses compression method {info.compress_type}, which Python's zipfile cannot read"
    elif info.file_size > limits.max_member_bytes:
        why = (
            f"it declares {_size(info.file_size)} uncompressed, more than the "
            f"{_size(limits.max_member_bytes)} allowed per member (Limits.max_member_bytes)"
        )
    elif info.file_size > limits.ratio_after_bytes and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        why = (
            f"it declares {_size(info.file_size)} from {_size(info.compress_size)} compressed, a "
            f"ratio above {limits.max_ratio:g}:1 (Limits.max_ratio), the mark of a decompression bomb"
        )
    else:
        return None
    return _reject(location, RejectReason.UNSUPPORTED, f"{location} was not read: {why}.")


def _too_many_zip_entries(fileobj: BinaryIO, location: str, limits: Limits) -> Reject | None:
    """Refuse a zip declaring more than ``max_members`` entries before zipfile loads them all."""
    try:
        end = zipfile._EndRecData(fileobj)  # the end-of-directory record, zip64 included
        declared = end[zipfile._ECD_ENTRIES_TOTAL] if end else None
    except Exception:  # private API: if it ever changes, zipfile's own checks still apply
        declared = None
    if declared is not None and declared > limits.max_members:
        return _reject(
            location,
            RejectReason.UNSUPPORTED,
            f"{location} declares {declared:,} entries, more than the {limits.max_members:,} allowed "
            "per archive (Limits.max_members); it was not opened. Split it, or raise the limit.",
        )
    return None


def _special_kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return f"a symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"a hard link to {info.linkname!r}"
    if info.ischr() or info.isblk():
        return "a device file"
    if info.isfifo():
        return "a FIFO (named pipe)"
    return f"an entry of tar type {info.type!r}"


def _special(location: str, kind: str) -> Reject:
    return _reject(
        location,
        RejectReason.UNSUPPORTED,
        f"{location} is {kind}, not a regular file, so it was not read: a link may point outside "
        "the archive and a device or FIFO holds no article. Archive the file itself to load it.",
    )


def _too_many(location: str, limits: Limits) -> Reject:
    return _reject(
        location,
        RejectReason.UNSUPPORTED,
        f"{location} has more than {limits.max_members:,} entries (Limits.max_members); "
        "the entries after that were not read.",
    )


def _zip_too_big(location: str, size: int | None, cap: int) -> Reject:
    what = f"is {_size(size)}" if size is not None else "is larger than that"
    return _reject(
        location,
        RejectReason.UNSUPPORTED,
        f"{location} is a zip archive inside a compressed stream; reading it needs random access, so "
        f"it is held in memory up to {_size(cap)} (Limits.max_buffered_zip_bytes), and it {what}. "
        "Unpack the outer archive and load the zip itself.",
    )


def _not_readable(location: str, what: str, exc: BaseException) -> str:
    return f"{location} is not a readable {what}: {type(exc).__name__}: {exc}"


def _reject(location: str, code: RejectReason, reason: str) -> Reject:
    return Reject(f"{location}#0", 0, code, reason)


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
