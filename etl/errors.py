"""One exception tree, so callers (and Prefect retries) decide by type.

``TransientError`` means "trying again may succeed" (a dropped connection, a
lock timeout); ``TerminalError`` means it will not (a bad config, an
incompatible index). Exceptions carry the structured context a person needs.

Database errors are not ours to subclass, so :func:`is_transient` classifies
them by SQLSTATE and driver error, on both backends: a server that restarts,
stops or is still starting, a dropped connection, a deadlock, a serialization
failure, a lock timeout, SQLite's "database is locked". Everything else (a
constraint, a syntax or type error, a full disk) is terminal: retrying would
only repeat it.
"""

from __future__ import annotations

import sqlite3


class EtlError(Exception):
    """Root of every error newsetl raises on purpose."""


class TransientError(EtlError):
    """A failure worth retrying."""


class TerminalError(EtlError):
    """A failure that retrying will not fix."""


class ConfigError(TerminalError):
    """The configuration is invalid; the message names the bad key and how to fix it."""


class IndexMismatchError(TerminalError):
    """Stored signatures were made with other dedup settings than the current ones."""


class WarehouseUnavailable(EtlError):
    """The warehouse kept failing with transient errors for the whole retry window.

    Deliberately neither transient nor terminal: its retries are spent, so no
    outer layer retries it again, yet a later run will succeed once the database
    is back (the batch that failed left no trace; the run resumes after it).
    """

    def __init__(self, what: str, seconds: float, attempts: int, last: BaseException) -> None:
        self.what, self.seconds, self.attempts, self.last = what, seconds, attempts, last
        super().__init__(
            f"the warehouse did not answer for {seconds:.0f} s ({attempts} attempts at {what}); "
            f"last error: {describe_db_error(last)}. Nothing of the failed batch was kept: "
            "run again when the database is back and it resumes there"
        )


# SQLSTATEs worth a retry: connection exceptions (class 08), the server shutting
# down or starting up (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now), deadlock, serialization failure, lock not available.
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "40P01", "40001", "55P03"})
TRANSIENT_SQLSTATE_CLASSES = ("08",)
# Driver messages of the same faults when no SQLSTATE came with them (a refused or
# reset connection, or a message from a server that is not accepting queries yet).
TRANSIENT_MESSAGES = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "connection refused",
    "server closed the connection unexpectedly",
    "terminating connection",
    "connection is lost",
    "connection is closed",
    "connection timed out",
    "could not connect to server",
    "no connection to the server",
    "ssl connection has been closed unexpectedly",
)
SQLITE_TRANSIENT_MESSAGES = ("database is locked", "database is busy", "database table is locked")


def _chain(exc: BaseException):
    """The exception, what SQLAlchemy wraps (``.orig``), and its causes, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def _one_is_transient(e: BaseException) -> bool | None:
    """True/False when ``e`` decides it, None when it says nothing."""
    if isinstance(e, TransientError):
        return True
    if isinstance(e, EtlError):
        return False
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover
        sa_exc = None
    if sa_exc is not None:
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True  # pool could not get a live connection / pool checkout timed out
    if isinstance(e, sqlite3.OperationalError):
        return any(m in str(e).lower() for m in SQLITE_TRANSIENT_MESSAGES)
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return None
    if isinstance(e, psycopg.Error):
        state = e.sqlstate
        if state:
            return state in TRANSIENT_SQLSTATES or state.startswith(TRANSIENT_SQLSTATE_CLASSES)
        message = str(e).lower()
        if any(m in message for m in TRANSIENT_MESSAGES):
            return True
        # No SQLSTATE on an OperationalError: the connection itself failed.
        return isinstance(e, psycopg.OperationalError)
    return None


def is_transient(exc: BaseException) -> bool:
    """True for errors worth a retry: database restarts and disconnects, deadlocks, lock timeouts."""
    for e in _chain(exc):
        verdict = _one_is_transient(e)
        if verdict is not None:
            return verdict
    return False


def describe_db_error(exc: BaseException) -> str:
    """One line for people: the driver's first message line, without SQLAlchemy's SQL dump."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}"
