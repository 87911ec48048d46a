"""The pieces of one dump's ingest: hash, read, batch, resume, load a prepared batch.

The steps of a run (etl.steps) are built from these; so is the ``load`` of the
Prefect flow's ``load-batch`` task. Memory is bounded by the batch size: a dump
is streamed, never loaded whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from etl.batches import PreparedBatch
from etl.config import DedupConfig
from etl.counts import BatchCounts
from etl.errors import EtlError
from etl.names import dump_name
from etl.readers import HEAD_BYTES, detect_format
from etl.records import RawRecord, Reject, RejectReason
from etl.warehouse.load import load_batch

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
    """The batch that etl.steps.load_batches is handing to its ``prepare`` or ``load`` right now.

    A caller's stage functions (the Prefect tasks name their runs by it) read it
    instead of the stage signatures growing an argument that only they need.
    None outside such a call.
    """
    return _current_batch.get()


@contextlib.contextmanager
def handling(ref: BatchRef) -> Iterator[None]:
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


def detect_plain(path: Path) -> str | None:
    """The format of a plain (uncompressed, single-file) dump, for the ledger; None otherwise."""
    try:
        with path.open("rb") as fh:
            return detect_format(path, fh.read(HEAD_BYTES))
    except EtlError:
        return None


def watch_unknown_format(
    records: Iterable[RawRecord | Reject], seen: Callable[[], None]
) -> Iterator[RawRecord | Reject]:
    """The stream unchanged; ``seen()`` is called for each reject of a member whose format is unknown."""
    for r in records:
        if isinstance(r, Reject) and r.reason_code == RejectReason.UNKNOWN_FORMAT:
            seen()
        yield r


def watch_encodings(
    records: Iterable[RawRecord | Reject], counts: dict[str, int]
) -> Iterator[RawRecord | Reject]:
    """The stream unchanged; ``counts`` tallies the encodings readers name (``fields["encoding"]``).

    Readers of formats that declare their encoding (JSON Lines, feeds, WARC) name
    none. Watched before records are skipped on resume, so a resumed dump counts
    what a single run would.
    """
    for r in records:
        if isinstance(r, RawRecord) and (encoding := r.fields.get("encoding")):
            counts[encoding] = counts.get(encoding, 0) + 1
        yield r


def resume_after(records: Iterable[RawRecord | Reject], records_done: int) -> Iterator[RawRecord | Reject]:
    """The records from ordinal ``records_done`` on: those before it are loaded already."""
    for r in records:
        if r.ordinal >= records_done:
            yield r
