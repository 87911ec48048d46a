"""etl.heap: what the load loops do to the process's garbage collector, and that they undo it."""

from __future__ import annotations

import gc
import threading
import weakref

from etl.heap import UNFREEZE_EVERY, YOUNG_THRESHOLD, Freezer, frozen_between_batches


def test_overlapping_load_loops_leave_the_collector_as_they_found_it() -> None:
    before = gc.get_threshold()
    first = frozen_between_batches()
    settle = first.__enter__()
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)

    done = threading.Event()

    def other_loop() -> None:  # another dump loading in another thread, ending first
        with frozen_between_batches() as other_settle:
            other_settle()
        done.set()

    threading.Thread(target=other_loop).start()
    assert done.wait(10)
    assert gc.get_freeze_count() > 0  # the other loop's end did not unfreeze under this one
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    settle()

    first.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_batchs_garbage_cycles_are_collected_within_a_few_dozen_batches() -> None:
    freezer = Freezer()
    try:
        freezer.batch_done()
        node = _Node()
        dropped = weakref.ref(node)
        freezer.batch_done()  # frozen while still in use
        del node  # then garbage, a cycle among frozen objects
        for _ in range(UNFREEZE_EVERY):
            freezer.batch_done()
        assert dropped() is None
    finally:
        gc.unfreeze()


def test_between_collections_survivors_stay_frozen() -> None:
    freezer = Freezer()
    try:
        for _ in range(UNFREEZE_EVERY - 1):
            freezer.batch_done()
        kept = _Node()
        freezer.batch_done()  # the fiftieth: collects, then freezes what is left
        assert gc.get_freeze_count() > 0 and kept.me is kept
    finally:
        gc.unfreeze()
