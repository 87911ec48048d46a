"""etl.heap: what the load loops do to the process's garbage collector, and that they undo it."""

from __future__ import annotations

import gc
import threading

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


def test_a_long_dump_unfreezes_now_and_then_so_cycles_among_survivors_get_collected() -> None:
    freezer = Freezer()
    try:
        for _ in range(UNFREEZE_EVERY - 1):
            freezer.batch_done()
        assert gc.get_freeze_count() > 0
        cycle: list = []
        cycle.append(cycle)  # garbage once dropped, but frozen it would never be collected
        gc.freeze()
        del cycle
        freezer.batch_done()  # the fiftieth batch
        assert gc.get_freeze_count() == 0
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
