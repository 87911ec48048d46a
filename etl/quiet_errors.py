"""Console log filter: an expected failure is one line, a bug keeps its traceback.

The orchestrator's engine logs every exception that leaves a flow or a task with
its traceback ("Encountered exception during execution", "Task run failed with
exception"). For our own errors (:class:`etl.errors.EtlError`: an HTTP 500 after
the retries, a refused download, the warehouse away) that record only repeats,
with a traceback, what the command line reports itself: the CLI's ``error:``
line for a failed run, the summary's ``failed:`` line for a failed dump. So the
console leaves those records out. Any other exception (a bug) keeps its record
and traceback, and every record still reaches the other handlers: the Prefect
API, hence the UI, keeps the full text.
"""

from __future__ import annotations

import logging

from etl.errors import EtlError

# Loggers of the orchestrator's engine (flow and task runs).
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class QuietExpectedErrors(logging.Filter):
    """For a console handler: drop engine records whose exception is one of ours.

    A failed task run logs twice: the exception (with its traceback), then
    "Finished in state Failed(...)" without one, at the same level. The second is
    dropped too when the first was: the task run ids whose exception was ours are
    remembered until their final record goes by.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ours: set[str] = set()  # task runs whose failure was one of our errors

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(ENGINE_LOGGERS):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        task_run = getattr(record, "task_run_id", None)
        if isinstance(exc, EtlError):
            if task_run:
                self._ours.add(task_run)
            return False
        if task_run in self._ours and record.getMessage().startswith("Finished in state"):
            self._ours.discard(task_run)
            return False
        return True
