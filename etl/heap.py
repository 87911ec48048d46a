"""Garbage collection tuned for batch work: long-lived objects are not re-scanned after every batch.

CPython's cyclic collector re-scans every tracked object in a full collection. A
loader holds hundreds of thousands of them in caches that outlive batches (the
features of recent articles, headline evidence): measured on 16,000 records, 13
full collections took 1.6 s, a third of the loader's CPU, and found 408 objects.
So what survives a batch joins the permanent generation (``gc.freeze``), which
collections skip. Frozen objects are still freed when their last reference goes;
garbage *cycles* among them (a batch leaves a few hundred objects' worth) wait for
the next unfreeze: every ``UNFREEZE_EVERY`` batches everything is unfrozen and
collected once, so memory stays bounded however long the dump. When the load loop
ends everything is unfrozen, for the collector to find in its own time.

A batch allocates millions of short-lived containers, so the youngest generation
is also collected every 10,000 allocations instead of CPython's 700: fewer, larger
young collections (about 9 % of the loader's CPU, 4 % of a prepare worker's).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator

YOUNG_THRESHOLD = 10_000
# Everything is unfrozen and collected this often, so that garbage cycles among frozen objects go
# and a long dump's memory stays bounded (one full collection per 100,000 records at batch 2,000).
UNFREEZE_EVERY = 50


_lock = threading.Lock()
_loops = 0  # load loops running in this process (a flow may load dumps in several threads)
_saved_threshold: tuple[int, int, int] | None = None


@contextlib.contextmanager
def frozen_between_batches() -> Iterator[Callable[[], None]]:
    """Yields the call to make after each batch; the collector's settings are restored on the way out.

    Nested or concurrent loops share one setting: the last one out unfreezes and restores.
    """
    global _loops, _saved_threshold
    with _lock:
        if _loops == 0:
            _saved_threshold = _collect_young_less_often()
        _loops += 1
    try:
        yield Freezer().batch_done
    finally:
        with _lock:
            _loops -= 1
            if _loops == 0:
                gc.unfreeze()
                gc.set_threshold(*_saved_threshold)  # type: ignore[misc]


def tune_worker() -> None:
    """For a prepare worker process, which does nothing but batches: larger young collections.

    The worker freezes its batches' survivors with a :class:`Freezer` of its own.
    """
    _collect_young_less_often()


def _collect_young_less_often() -> tuple[int, int, int]:
    """Young collections every ``YOUNG_THRESHOLD`` allocations (or rarer); returns the setting before."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], YOUNG_THRESHOLD), *threshold[1:])
    return threshold


class Freezer:
    """Call :meth:`batch_done` after each batch, once the batch itself is garbage."""

    def __init__(self) -> None:
        self.batches = 0

    def batch_done(self) -> None:
        """Freeze what survived; every ``UNFREEZE_EVERY`` batches, first collect everything once."""
        self.batches += 1
        if self.batches % UNFREEZE_EVERY == 0:
            gc.unfreeze()
            gc.collect()  # the cycles the last batches left among frozen objects
        gc.freeze()
