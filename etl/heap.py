"""Garbage collection tuned for batch work: long-lived objects are not re-scanned after every batch.

CPython's cyclic collector re-scans every tracked object in a full collection. A
loader holds hundreds of thousands of them in caches that outlive batches (the
features of recent articles, headline evidence): measured on 16,000 records, 13
full collections took 1.6 s, a third of the loader's CPU, and found 408 objects.
So after each batch the collector runs once over what that batch left (everything
older is frozen, so this is a small scan) and what survives joins the permanent
generation (``gc.freeze``). Frozen objects are still freed when their last
reference goes; a garbage cycle formed among them later is found when everything
is unfrozen, every ``UNFREEZE_EVERY`` batches and when the loop ends, so memory
stays bounded by the batch however long the dump.

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
# What earlier batches left is unfrozen this often, so that garbage cycles among it get collected
# and a long dump's memory stays bounded by the batch.
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
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(max(_saved_threshold[0], YOUNG_THRESHOLD), *_saved_threshold[1:])
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
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], YOUNG_THRESHOLD), *threshold[1:])


class Freezer:
    """Call :meth:`batch_done` after each batch, once the batch itself is garbage."""

    def __init__(self) -> None:
        self.batches = 0

    def batch_done(self) -> None:
        """Collect the batch's garbage cycles, then freeze its survivors (every so often: unfreeze all)."""
        self.batches += 1
        gc.collect()  # scans only what is not frozen: this batch's survivors (all after an unfreeze)
        if self.batches % UNFREEZE_EVERY == 0:
            gc.unfreeze()  # the next batch's collection scans everything once
        else:
            gc.freeze()
