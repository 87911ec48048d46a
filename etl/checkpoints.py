"""Named points in a run where a fault test can freeze the process, to kill it there.

``NEWSETL_PAUSE_AT=POINT:N`` makes the N-th arrival at ``POINT`` (1-based, per
process) create the file named by ``NEWSETL_PAUSE_FILE`` and sleep, so a test can
``kill -9`` the run at a known place: ``prepare`` (a batch being normalised and
signed), ``load`` (inside a batch transaction, rows written, not committed) or
``dump-done`` (one dump finished, the next not begun). Unset, a checkpoint costs
one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

_arrivals: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    spec = os.environ.get("NEWSETL_PAUSE_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _arrivals[point] += 1
    if _arrivals[point] != int(nth or 1):
        return
    marker = os.environ.get("NEWSETL_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(3600)
