"""The console filter that keeps expected failures to one line and bugs to their traceback."""

from __future__ import annotations

import logging
import sys

from etl.errors import TerminalError, TransientError
from etl.quiet_errors import QuietExpectedErrors


def record(logger: str, exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        return logging.LogRecord(logger, logging.ERROR, __file__, 1, "boom", None, sys.exc_info())


def test_engine_records_of_our_errors_are_dropped_and_bugs_kept() -> None:
    quiet = QuietExpectedErrors()
    assert not quiet.filter(record("prefect.flow_runs", TransientError("x: giving up; last: HTTP 500")))
    assert not quiet.filter(record("prefect.task_runs", TerminalError("x: HTTP 403")))
    # a bug keeps its record and its traceback
    assert quiet.filter(record("prefect.flow_runs", KeyError("title")))
    # records of other loggers are not the engine repeating what the CLI prints
    assert quiet.filter(record("newsetl", TransientError("x")))


def test_the_final_state_of_a_task_that_failed_with_our_error_is_dropped_too() -> None:
    quiet = QuietExpectedErrors()

    def task_record(task_run: str, exc: BaseException | None, message: str) -> logging.LogRecord:
        if exc is None:
            out = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, message, None, None)
        else:
            out = record("prefect.task_runs", exc)
            out.msg = message
        out.task_run_id = task_run
        return out

    assert not quiet.filter(task_record("t1", TransientError("x: HTTP 500"), "Task run failed"))
    assert quiet.filter(task_record("t2", KeyError("title"), "Task run failed"))  # a bug
    assert not quiet.filter(task_record("t1", None, "Finished in state Failed('x: HTTP 500')"))
    assert quiet.filter(task_record("t2", None, "Finished in state Failed('KeyError')"))
    # only that record of the task run: others still show
    assert quiet.filter(task_record("t1", None, "Finished in state Failed('again')"))
