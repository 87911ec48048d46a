"""Preparing batches in worker processes while the main process loads.

With N workers the pipeline keeps up to N batches in preparation ahead of the
one being loaded, so parsing and MinHash (CPU) overlap the dedup-and-insert step
(mostly database time). Workers are spawned, not forked: the parent may run
threads (Prefect's), which fork does not copy safely. The pool starts lazily on
the second batch of a run, so small inputs never pay for it.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from etl.batches import PreparedBatch, inline_prepare, prepare_batch
from etl.config import DedupConfig
from etl.heap import Freezer, tune_worker
from etl.records import RawRecord, Reject

_POOLS: dict[int, ProcessPoolExecutor] = {}


def default_workers() -> int:
    """One worker per core beyond the one the loader uses (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


def _exit_with_parent(parent: int) -> None:
    """Leave when the loading process is gone.

    A worker waits on its task queue, whose other end it holds itself, so a
    ``kill -9`` of the loader would leave it waiting forever. A daemon thread
    notices the new parent (the loader's death reparents it) within a second.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(parent: int) -> None:
    """Worker initializer: leave with the loading process; collect garbage as batch work wants (etl.heap)."""
    _exit_with_parent(parent)
    tune_worker()


def _pool(workers: int) -> ProcessPoolExecutor:
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
    return _POOLS[workers]


@atexit.register
def shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


def submit_prepare(
    records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig, workers: int
) -> Future:
    """Start preparing a batch; inline (an already-done future) when ``workers`` is 0."""
    if workers <= 0:
        return inline_prepare(records, source, cfg)
    return _pool(workers).submit(_prepare_in_worker, list(records), source, cfg)


_WORKER_FREEZER = Freezer()


def _prepare_in_worker(records: list[RawRecord | Reject], source: str, cfg: DedupConfig) -> PreparedBatch:
    """``prepare_batch`` in a worker process, the collector tuned for batches (see etl.heap).

    What the previous batch left is settled first: its result has been sent and is garbage by now.
    """
    _WORKER_FREEZER.batch_done()
    return prepare_batch(records, source, cfg)


def resolve_workers(configured: int) -> int:
    return default_workers() if configured < 0 else configured


class LocalPreparer:
    """``SubmitPrepareFn`` for runs without Prefect: first batch inline, the rest in workers.

    Preparing the first batch inline means a one-batch input never starts a pool.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.calls = 0

    def __call__(self, records: Sequence[RawRecord | Reject], source: str, cfg: DedupConfig) -> Future:
        self.calls += 1
        return submit_prepare(records, source, cfg, self.workers if self.calls > 1 else 0)
