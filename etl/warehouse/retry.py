"""Retrying warehouse work through database restarts, failovers and lock conflicts.

Every unit retried here is one transaction (a batch load, a ledger update), so a
failed attempt left nothing behind and trying again is safe: a batch load also
re-reads the dump's resume point under the dedup lock. Delays grow
exponentially with full jitter (so several runs that lost the database at the
same moment do not come back in step) and stop at the retry window: a database
back within ``[warehouse] retry_seconds`` costs a pause, not a failed run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from etl.errors import WarehouseUnavailable, describe_db_error, is_transient

T = TypeVar("T")
log = logging.getLogger("newsetl")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying: ``window`` seconds from the first failure, delays doubling."""

    window: float = 120.0
    first_delay: float = 0.5
    max_delay: float = 15.0

    def schedule(self) -> list[float]:
        """The nominal delays (before jitter) whose sum just reaches the window; at most 50."""
        delays: list[float] = []
        total, delay = 0.0, self.first_delay
        while total < self.window and len(delays) < 50:
            step = min(delay, self.max_delay, self.window - total)
            delays.append(round(step, 3))
            total += step
            delay *= 2
        return delays

    def call(
        self,
        fn: Callable[..., T],
        *args,
        what: str = "a warehouse statement",
        logger: logging.Logger | logging.LoggerAdapter = log,
        **kwargs,
    ) -> T:
        """``fn(*args, **kwargs)``, retried on transient errors until the window is spent.

        Raises the error itself when it is terminal, or ``WarehouseUnavailable``
        when transient errors lasted the whole window.
        """
        started: float | None = None
        attempts = 0
        delay = self.first_delay
        while True:
            attempts += 1
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                now = time.monotonic()
                started = now if started is None else started
                left = self.window - (now - started)
                if left <= 0:
                    raise WarehouseUnavailable(what, now - started, attempts, exc) from exc
                pause = min(left, random.uniform(delay / 2, delay))  # jitter
                logger.warning(
                    "%s failed (%s); retrying in %.1f s (%.0f s left of the retry window)",
                    what,
                    describe_db_error(exc),
                    pause,
                    left,
                )
                time.sleep(pause)
                delay = min(delay * 2, self.max_delay)
