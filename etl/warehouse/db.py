"""Engines for the two supported warehouses: SQLite (embedded default) and Postgres."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from etl.errors import ConfigError

SQLITE_BUSY_TIMEOUT_S = 120


def make_engine(url: str) -> Engine:
    """An engine with the settings each dialect needs for safe concurrent loads.

    SQLite gets WAL (readers never block the loader), foreign keys on, and a long
    busy timeout so two loads queue instead of failing; the parent folder of the
    database file is created on first use.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(
        f"unsupported warehouse {backend!r}: use sqlite:///path/to/file.db "
        "or postgresql+psycopg://user@host:5432/dbname"
    )


def describe(engine: Engine) -> str:
    """Where the warehouse is, for people: an absolute file path, or the URL without password."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return str(Path(url.database).expanduser().resolve())
    return url.render_as_string(hide_password=True)


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL per process, shared by every batch of a run."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]
