"""Create or upgrade the warehouse schema with Alembic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "etl.warehouse:migrations")
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Bring the schema to ``revision``; returns True when anything was applied."""
    if revision == "head" and current_revision(engine) == head_revision():
        return False
    _migrate(engine, command.upgrade, revision)
    return True


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (operators and the migration tests)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable, revision: str) -> None:
    cfg = alembic_config()
    with engine.connect() as conn, _sqlite_foreign_keys_off(conn), conn.begin():
        cfg.attributes["connection"] = conn
        step(cfg, revision)
        _check_sqlite_foreign_keys(conn)


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys off while migrations copy tables that other tables reference.

    Batch migrations recreate a table (copy, drop, rename); with foreign keys on,
    dropping one that is referenced fails. This is SQLite's documented procedure
    for such changes; the keys are checked before the commit and turned back on.
    The pragma is ignored inside a transaction, so it is set before one begins.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    was_on = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if was_on else 'OFF'}")
        conn.commit()


def _check_sqlite_foreign_keys(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        shown = ", ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in broken[:5])
        raise RuntimeError(f"the migration left {len(broken)} rows with a broken foreign key: {shown}")
