"""Engines for the two supported warehouses: SQLite (embedded default) and Postgres."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

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
    hint = " (write postgresql+psycopg:// instead of postgres://)" if backend == "postgres" else ""
    raise ConfigError(
        f"unsupported warehouse {backend!r}{hint}: use sqlite:///path/to/file.db "
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


CONNECT_TIMEOUT_S = 3


def check_warehouse(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` after proving the warehouse answers, in about a second.

    Run before anything slow (Prefect's start-up), so a wrong port, a bad URL or a
    missing file is one clear line at once rather than a traceback a minute later.
    With ``create=False`` a missing SQLite file is an error instead of a new file:
    read-only commands must not leave empty warehouses behind.
    """
    parsed = make_url(url) if "://" in url else None
    if parsed is None:
        raise ConfigError(
            f"not a database URL: {url!r}; use sqlite:///path/to/file.db or postgresql+psycopg://..."
        )
    if parsed.get_backend_name() == "sqlite" and not create:
        path = Path(parsed.database or "").expanduser()
        if not parsed.database or parsed.database == ":memory:" or not path.is_file():
            raise ConfigError(
                f"no warehouse at {path.resolve()}: run `newsetl ingest` or `newsetl db upgrade` first"
            )
    engine = engine_for(url)
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if engine.dialect.name == "postgresql" else {}
    try:
        if connect_args:
            probe = create_engine(engine.url, connect_args=connect_args, poolclass=NullPool)
            with probe.connect():
                pass
            probe.dispose()
        else:
            with engine.connect():
                pass
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ConfigError(f"cannot reach the warehouse {describe(engine)}: {reason}") from exc
    return engine
