"""The ingest path as plain functions: discover -> ledger -> read -> prepare -> load.

``ingest_dump`` owns the loop over one dump's batches; callers pass the two
stage functions, which lets the Prefect flow run each stage as a task on a
batch while tests and benchmarks can call the same loop directly. Memory is
bounded by the batch size: a dump is streamed, never loaded whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy.engine import Engine

from etl.checkpoints import checkpoint
from etl.config import DedupConfig, Settings
from etl.dedup.evidence import pack as pack_evidence
from etl.dedup.evidence import text_evidence
from etl.dedup.evidence import unpack as unpack_evidence
from etl.dedup.features import features_of_batch
from etl.dedup.features import pack as pack_features
from etl.dedup.features import unpack as unpack_features
from etl.dedup.matcher import PreparedArticle
from etl.dedup.prepare import index_keys
from etl.errors import EtlError, TerminalError, WarehouseUnavailable, is_transient
from etl.names import dump_name, printable
from etl.normalize import normalize_all
from etl.parallel import submit_prepare
from etl.readers import HEAD_BYTES, detect_format, read_dump
from etl.records import Article, RawRecord, Reject, RejectReason
from etl.text import words
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
from etl.warehouse.load import BatchCounts, load_batch
from etl.warehouse.retry import RetryPolicy

HASH_CHUNK = 1 << 20


@dataclass(slots=True)
class PreparedBatch:
    """A batch after the CPU-heavy stage: articles with signatures, plus rejects.

    ``end`` is one past the last ordinal the batch covers; it becomes the dump's
    resume point once the batch is loaded.
    """

    prepared: list[PreparedArticle]
    rejects: list[Reject]
    end: int
    seconds: float = 0.0
    # seconds per step of the preparation ("normalise", "sign", "features"), for benchmarks and logs
    stages: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prepared) + len(self.rejects)

    def __getstate__(self) -> tuple:
        """A batch travels from a prepare worker as a few flat arrays, not thousands of small ones."""
        items = self.prepared
        with_features = bool(items) and all(p.text is not None for p in items)
        with_evidence = bool(items) and all(p.text_evidence is not None for p in items)
        return (
            [p.article for p in items],
            np.vstack([p.signature for p in items]) if items else None,
            # headline keys make the key count vary from article to article
            np.fromiter((len(p.band_keys) for p in items), dtype=np.int64, count=len(items)),
            np.concatenate([p.band_keys for p in items]) if items else None,
            pack_features([p.text for p in items]) if with_features else None,
            pack_evidence([p.text_evidence for p in items]) if with_evidence else None,
            self.rejects,
            self.end,
            self.seconds,
            self.stages,
        )

    def __setstate__(self, state: tuple) -> None:
        (articles, signatures, key_counts, keys, packed, evidence, self.rejects, self.end, self.seconds,
         self.stages) = state  # fmt: skip
        n = len(articles)
        features = unpack_features(packed) if packed is not None else [None] * n
        texts = unpack_evidence(evidence) if evidence is not None else [None] * n
        ends = np.cumsum(key_counts).tolist() if n else []
        starts = [0, *ends[:-1]]
        self.prepared = [
            PreparedArticle(a, signatures[i], keys[starts[i] : ends[i]], features[i], texts[i])
            for i, a in enumerate(articles)
        ]


@dataclass(slots=True)
class DumpResult:
    location: str
    source: str
    format: str | None
    status: str  # "loaded" | "skipped" (already in the ledger) | "resumed"
    counts: BatchCounts = field(default_factory=BatchCounts)
    seconds: float = 0.0
    dump_id: int | None = None
    prepare_seconds: float = 0.0


@dataclass(slots=True)
class DumpFile:
    """A dump on local disk plus its provenance.

    ``location`` is what users know it by (a path, or the URL it was fetched from);
    ``refusal`` says why a fetched file is not a dump at all (it becomes one reject);
    ``settle`` is called after the load with success or failure (a landing folder
    moves the file to processed/ or failed/).
    """

    path: Path
    location: str
    etag: str | None = None
    last_modified: str | None = None
    refusal: str | None = None
    settle: Callable[[bool], object] | None = None

    def __post_init__(self) -> None:
        # A non-UTF-8 file name is stored and shown as caf\xe9.jsonl, never with surrogates.
        self.location = printable(self.location)


DOCUMENTATION_NAMES = frozenset({"readme", "license", "licence", "copying", "citation", "notice"})


def is_documentation(path: Path) -> bool:
    """``README.TXT``, ``LICENSE``, ``CITATION.cff``...: a corpus's notes, not a dump.

    Skipped when a folder is walked (a dataset folder such as the BBC one ships a
    README.TXT beside its articles); a file named directly is always read.
    """
    return path.name.split(".", 1)[0].lower() in DOCUMENTATION_NAMES


def discover(locations: Iterable[str]) -> list[DumpFile]:
    """Files named directly, every file under a folder (sorted; hidden and documentation files
    skipped, see :func:`is_documentation`), or a glob.

    A location that matches nothing is an error: a typo must not look like an empty day.
    """
    found: list[DumpFile] = []
    seen: set[Path] = set()
    for loc in locations:
        path = Path(loc).expanduser()
        if path.is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not is_documentation(p)
            )
        else:
            candidates = sorted(Path(p) for p in glob.glob(os.path.expanduser(loc), recursive=True))
            candidates = [p for p in candidates if p.is_file()]
            if not candidates:
                raise TerminalError(f"{loc}: no such file, folder or matching glob")
        for p in candidates:
            resolved = p.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(DumpFile(path=p, location=str(p)))
    return found


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


def prepare_batch(records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig) -> PreparedBatch:
    """Normalise, sign and featurise a batch: the CPU-heavy stage, run outside any lock.

    Each text is split into words once; its signature, band keys and the
    features verification compares all come from those words.
    """
    checkpoint("prepare")
    started = time.perf_counter()
    articles: list[Article] = []
    token_lists: list[list[str]] = []
    rejects: list[Reject] = []
    for item in normalize_all(records, source):
        if isinstance(item, Article):
            articles.append(item)
            token_lists.append(words(item.dedup_text))  # right after its content hash: normalised once
        else:
            rejects.append(item)
    normalised = time.perf_counter()
    signatures, keys = index_keys(token_lists, articles, cfg)
    signed = time.perf_counter()
    features = features_of_batch(token_lists, cfg.shingle_size)
    featured = time.perf_counter()
    evidence = [text_evidence(a.dedup_text) for a in articles]
    prepared = [
        PreparedArticle(a, signatures[i], keys[i], features[i], evidence[i]) for i, a in enumerate(articles)
    ]
    done = time.perf_counter()
    end = max(r.ordinal for r in records) + 1 if records else 0
    stages = {
        "normalise": normalised - started,
        "sign": signed - normalised,
        "features": featured - signed,
        "evidence": done - featured,
    }
    return PreparedBatch(prepared, rejects, end, seconds=done - started, stages=stages)


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
        records = unknown.watch(_resume(read, state))
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
        finish_dump, engine, state.id, UNKNOWN_FORMAT if unknown.seen else DONE, what="marking the dump done"
    )
    checkpoint("dump-done")
    result.seconds = time.perf_counter() - started
    return result


def inline_prepare(records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig) -> Future:
    """Prepare in the calling process; returns an already-done future."""
    return submit_prepare(records, source, cfg, workers=0)


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


def _resume(records: Iterable[RawRecord | Reject], state: DumpState) -> Iterator[RawRecord | Reject]:
    skip_below = state.records_done
    for r in records:
        if r.ordinal >= skip_below:
            yield r
