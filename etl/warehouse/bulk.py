"""Bulk inserts: COPY on Postgres, executemany elsewhere. Never one ORM object per row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection


def _is_json(col) -> bool:
    return isinstance(col.type, JSON) or type(col.type).__name__ == "JSONB"


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with identical keys) inside the caller's transaction."""
    if not rows:
        return 0
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return len(rows)
    columns = list(rows[0].keys())
    json_cols = {c for c in columns if _is_json(table.c[c])}
    driver_conn = conn.connection.driver_connection
    col_sql = ", ".join(f'"{c}"' for c in columns)
    with driver_conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({col_sql}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_cols else row[c] for c in columns])
    return len(rows)
