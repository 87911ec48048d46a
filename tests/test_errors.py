"""Which database errors are worth a retry, decided on real errors from real servers.

Before, only an invalidated SQLAlchemy connection counted as transient, so a
server that was starting up, a refused connection, a deadlock or a lock timeout
failed the batch at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from etl.errors import WarehouseUnavailable, is_transient
from etl.warehouse.retry import RetryPolicy
from tests.pgcluster import free_port


def error_of(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


def test_a_refused_connection_is_transient_raw_and_wrapped() -> None:
    port = free_port()  # nothing listens there
    raw = error_of(lambda: psycopg.connect(f"host=127.0.0.1 port={port} user=x connect_timeout=2"))
    engine = create_engine(f"postgresql+psycopg://x@127.0.0.1:{port}/x")
    wrapped = error_of(lambda: engine.connect())
    assert is_transient(raw) and is_transient(wrapped)


def test_admin_shutdown_deadlock_and_lock_timeout_are_transient(postgres_admin: str, pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, v int)"))
        conn.execute(text("INSERT INTO t VALUES (1, 0), (2, 0)"))

    # 57P01: the server ends our session (pg_terminate_backend, as a shutdown does)
    victim = engine.connect()
    pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(postgres_admin, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    terminated = error_of(lambda: victim.execute(text("SELECT 1")))
    victim.close()
    assert is_transient(terminated)

    # 55P03: lock timeout
    with engine.connect() as holder, engine.connect() as waiter:
        holder.begin()
        holder.execute(text("SELECT * FROM t WHERE id = 1 FOR UPDATE"))
        waiter.begin()
        waiter.execute(text("SET LOCAL lock_timeout = '100ms'"))
        timeout = error_of(lambda: waiter.execute(text("UPDATE t SET v = 1 WHERE id = 1")))
        assert getattr(timeout.orig, "sqlstate", None) == "55P03"
        assert is_transient(timeout)

    # 40P01: deadlock, two transactions locking two rows in opposite order
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def cross(first: int, second: int) -> None:
        with engine.connect() as conn, conn.begin():
            try:
                conn.execute(text("UPDATE t SET v = v + 1 WHERE id = :i"), {"i": first})
                barrier.wait(timeout=10)
                time.sleep(0.2)
                conn.execute(text("UPDATE t SET v = v + 1 WHERE id = :i"), {"i": second})
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=cross, args=a) for a in ((1, 2), (2, 1))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert [getattr(e.orig, "sqlstate", None) for e in errors] == ["40P01"]
    assert is_transient(errors[0])
    engine.dispose()


def test_constraint_and_syntax_errors_are_terminal(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE u (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO u VALUES (1)"))

    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO u VALUES (1)"))

    def syntax() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELEC 1"))

    assert not is_transient(error_of(duplicate))
    assert not is_transient(error_of(syntax))
    engine.dispose()


def test_sqlite_database_is_locked_is_transient_and_no_such_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (v int)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))

    def missing() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM nowhere"))

    locked = error_of(write)
    assert "database is locked" in str(locked)
    assert is_transient(locked)
    assert not is_transient(error_of(missing))
    holder.execute("ROLLBACK")
    holder.close()
    engine.dispose()


def test_retry_policy_retries_transient_errors_only_and_gives_up_after_the_window() -> None:
    port = free_port()
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            psycopg.connect(f"host=127.0.0.1 port={port} user=x connect_timeout=2")
        return "ok"

    assert RetryPolicy(window=10, first_delay=0.05).call(flaky) == "ok"
    assert calls["n"] == 3

    calls["n"] = 0

    def terminal() -> None:
        calls["n"] += 1
        raise ValueError("bad row")

    with pytest.raises(ValueError):
        RetryPolicy(window=10, first_delay=0.05).call(terminal)
    assert calls["n"] == 1

    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable, match="did not answer for 1 s"):
        RetryPolicy(window=1, first_delay=0.05).call(
            lambda: psycopg.connect(f"host=127.0.0.1 port={port} user=x connect_timeout=2"), what="a test"
        )
    assert 1 <= time.monotonic() - started < 5


def test_the_retry_schedule_spans_the_window() -> None:
    delays = RetryPolicy(window=120).schedule()
    assert delays[:3] == [0.5, 1.0, 2.0] and max(delays) == 15.0
    assert sum(delays) == pytest.approx(120)
    assert RetryPolicy(window=0).schedule() == []
