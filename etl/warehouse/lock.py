"""The warehouse-wide dedup lock, taken by loads and by an index rebuild.

A load keeps a pair of near-duplicates out only if no other load decides at the
same time, and a rebuild must not be seen half done: both hold this lock for
their transaction.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

DEDUP_LOCK_KEY = 0x6E65777365746C  # "newsetl"


def take_dedup_lock(conn: Connection) -> None:
    """Serialise dedup-and-insert steps warehouse-wide until the transaction ends.

    Postgres: a transaction-level advisory lock. SQLite: the database write lock,
    taken by a first write (``BEGIN IMMEDIATE`` semantics).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DEDUP_LOCK_KEY})
    else:
        conn.execute(text("UPDATE index_settings SET value = value WHERE 0"))
