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
    """For a console handler: drop engine records whose exception is one of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, EtlError) and record.name.startswith(ENGINE_LOGGERS))
