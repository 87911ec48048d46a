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
