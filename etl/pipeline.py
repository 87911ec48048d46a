"""The ingest path as plain functions: discover -> ledger -> read -> prepare -> load.

``ingest_dump`` owns the loop over one dump's batches; callers pass the two
stage functions, which lets the Prefect flow run each stage as a task on a
batch while tests and benchmarks can call the same loop directly. Memory is
bounded by the batch size: a dump is streamed, never loaded whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from etl.batches import PreparedBatch, inline_prepare
from etl.checkpoints import checkpoint
from etl.config import DedupConfig, Settings
from etl.counts import BatchCounts
from etl.dumps import DumpFile, DumpResult
from etl.errors import EtlError, WarehouseUnavailable, is_transient
from etl.names import dump_name
from etl.readers import HEAD_BYTES, detect_format, read_dump
from etl.records import RawRecord, Reject, RejectReason
from etl.warehouse.ledger import (
    DONE,
    FAILED,
    UNKNOWN_FORMAT,
    DumpState,
    claim_dump,
    finish_dump,
    replace_unknown_format_rejects,
    unknown_format_members,
)
from etl.warehouse.load import load_batch
from etl.warehouse.retry import RetryPolicy

HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def batched(records: Iterable[RawRecord | Reject], size: int) -> Iterator[list[RawRecord | Reject]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


class FutureLike(Protocol):
    def result(self) -> PreparedBatch: ...


@dataclass(frozen=True, slots=True)
class BatchRef:
    """Which dump and which of its batches a ``prepare`` or ``load`` call handles.

    ``number`` counts from 1 in the dump (a resumed dump goes on counting where
    the loaded batches stopped), so it means the same batch across runs.
    """

    location: str
    number: int

    @property
    def label(self) -> str:
        """``crawl.jsonl 3``: the dump's file name (or a URL's last path segment) and the number."""
        return f"{dump_name(self.location)} {self.number}"


_current_batch: contextvars.ContextVar[BatchRef | None] = contextvars.ContextVar("batch", default=None)


def current_batch() -> BatchRef | None:
    """The batch that :func:`ingest_dump` is handing to its ``prepare`` or ``load`` right now.

    A caller's stage functions (the Prefect tasks name their runs by it) read it
    instead of the stage signatures growing an argument that only they need.
    None outside such a call.
    """
    return _current_batch.get()


@contextlib.contextmanager
def _handling(ref: BatchRef) -> Iterator[None]:
    token = _current_batch.set(ref)
    try:
        yield
    finally:
        _current_batch.reset(token)


SubmitPrepareFn = Callable[[Sequence[RawRecord | Reject], str, DedupConfig], FutureLike]
LoadFn = Callable[..., BatchCounts]
ProgressFn = Callable[[str, BatchCounts], None]


def load_prepared(
    engine: Engine,
    batch: PreparedBatch,
    *,
    dump_id: int,
    run_id: str,
    source: str,
    cfg: DedupConfig,
) -> BatchCounts:
    return load_batch(
        engine,
        dump_id=dump_id,
        run_id=run_id,
        source=source,
        prepared=batch.prepared,
        rejects=batch.rejects,
        end=batch.end,
        cfg=cfg,
    )


def ingest_dump(
    engine: Engine,
    dump: DumpFile,
    *,
    source: str,
    fmt: str,
    run_id: str,
    settings: Settings,
    prepare: SubmitPrepareFn | None = None,
    load: LoadFn = load_prepared,
    progress: ProgressFn | None = None,
    lookahead: int = 1,
    retry: RetryPolicy | None = None,
) -> DumpResult:
    """Load one dump file, resuming where an interrupted run stopped; a finished dump is skipped.

    ``prepare`` starts preparing a batch and returns a future; up to ``lookahead``
    batches are in preparation while the previous one loads. Batches are still
    loaded strictly in order, so "first seen" means first in the dump. The ledger
    statements are retried through transient database errors (``retry``).
    """
    prepare = prepare or inline_prepare
    retry = retry or RetryPolicy()
    started = time.perf_counter()
    sha, size = sha256_file(dump.path)
    detected = fmt if fmt != "auto" else _detect_plain(dump.path)
    state = retry.call(
        claim_dump,
        engine,
        source=source,
        location=dump.location,
        sha256=sha,
        size=size,
        fmt=detected,
        run_id=run_id,
        etag=dump.etag,
        last_modified=dump.last_modified,
        what="claiming the dump in the ledger",
    )
    if state.status == DONE:
        return DumpResult(dump.location, state.source, detected, "skipped", dump_id=state.id)
    # A dump left "unknown_format" is read again, but only the members whose format could
    # not be told, numbered after everything already loaded; their old rejects go at the end.
    reread = unknown_format_members(engine, state.id) if state.status == UNKNOWN_FORMAT else None
    result = DumpResult(
        dump.location,
        source,
        detected,
        "resumed" if state.records_done and reread is None else "loaded",
        dump_id=state.id,
    )
    cfg = settings.dedup
    unknown = _Seen(RejectReason.UNKNOWN_FORMAT)
    encodings = _Encodings()
    if dump.refusal:
        refused = Reject(f"{dump.location}#0", 0, RejectReason.UNSUPPORTED, dump.refusal)
        records: Iterable[RawRecord | Reject] = _resume([refused], state)
    else:
        read = read_dump(
            dump.path,
            fmt,
            dump.location,
            max_record_bytes=settings.ingest.max_record_bytes,
            members=reread,
            first_ordinal=state.records_done if reread is not None else 0,
        )
        records = unknown.watch(_resume(encodings.watch(read), state))
    pending: deque[tuple[BatchRef, FutureLike]] = deque()

    def load_next() -> None:
        ref, future = pending.popleft()
        batch = future.result()
        with _handling(ref):
            counts = load(engine, batch, dump_id=state.id, run_id=run_id, source=source, cfg=cfg)
        result.counts += counts
        result.prepare_seconds += batch.seconds
        if progress:
            progress(dump.location, result.counts)

    try:
        size = settings.ingest.batch_size
        for chunk in batched(records, size):
            ref = BatchRef(dump.location, chunk[0].ordinal // size + 1)
            with _handling(ref):
                pending.append((ref, prepare(chunk, source, cfg)))
            if len(pending) > max(0, lookahead):
                load_next()
        while pending:
            load_next()
    except Exception as exc:
        # Batches already loaded stay loaded; a re-run resumes after the last one. If even
        # this update fails (the database is away), the dump stays "loading" until the next
        # run marks it abandoned: resumable either way. A failed re-read of unknown-format
        # members stays a re-read (its old rejects are still there), but it starts those
        # members over after the batches it loaded: records loaded before the failure then
        # arrive again and are kept as exact duplicates, not lost.
        status = UNKNOWN_FORMAT if reread is not None else FAILED
        with contextlib.suppress(Exception):
            if isinstance(exc, WarehouseUnavailable) or is_transient(exc):
                finish_dump(engine, state.id, status)  # one try: the window was just spent
            else:
                retry.call(finish_dump, engine, state.id, status, what="marking the dump failed")
        raise
    if reread is not None:
        retry.call(
            replace_unknown_format_rejects,
            engine,
            state.id,
            state.records_done,
            fmt if fmt != "auto" else None,
            what="replacing the rejects of re-read members",
        )
    retry.call(
        finish_dump,
        engine,
        state.id,
        UNKNOWN_FORMAT if unknown.seen else DONE,
        encodings.label(),
        what="marking the dump done",
    )
    checkpoint("dump-done")
    result.seconds = time.perf_counter() - started
    return result


def _detect_plain(path: Path) -> str | None:
    """The format of a plain (uncompressed, single-file) dump, for the ledger; None otherwise."""
    try:
        with path.open("rb") as fh:
            return detect_format(path, fh.read(HEAD_BYTES))
    except EtlError:
        return None


class _Seen:
    """Notes whether a reject with the given code went by in a stream."""

    def __init__(self, code: RejectReason) -> None:
        self.code = code
        self.seen = False

    def watch(self, records: Iterable[RawRecord | Reject]) -> Iterator[RawRecord | Reject]:
        for r in records:
            if isinstance(r, Reject) and r.reason_code == self.code:
                self.seen = True
            yield r


class _Encodings:
    """Counts the encodings readers name for a dump's records (``fields["encoding"]``).

    The ledger keeps them in ``dumps.encoding``, most used first (``cp1252`` or
    ``utf-8,cp1252``): someone chasing mojibake sees which decoder read the file.
    Readers of formats that declare their encoding (JSON Lines, feeds, WARC) name
    none, and the column stays empty. Records skipped on resume are counted too,
    so a resumed dump records what a single run would.
    """

    WIDTH = 40  # the column's width; names that do not fit whole are left out

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def watch(self, records: Iterable[RawRecord | Reject]) -> Iterator[RawRecord | Reject]:
        for r in records:
            if isinstance(r, RawRecord) and (encoding := r.fields.get("encoding")):
                self.counts[encoding] += 1
            yield r

    def label(self) -> str | None:
        label = ""
        for name, _ in self.counts.most_common():
            if len(label) + len(name) + 1 > self.WIDTH:
                break
            label = f"{label},{name}" if label else name
        return label or None


def _resume(records: Iterable[RawRecord | Reject], state: DumpState) -> Iterator[RawRecord | Reject]:
    skip_below = state.records_done
    for r in records:
        if r.ordinal >= skip_below:
            yield r
