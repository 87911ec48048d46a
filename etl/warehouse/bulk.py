"""Bulk inserts: COPY on Postgres, executemany elsewhere. Never one ORM object per row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import Cursor, postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format
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


# Postgres's binary COPY format for rows of two BIGINT columns: a 19-byte header, then per row
# a field count and two length-prefixed big-endian values, then a 2-byte trailer.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_BINARY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_BIGINT_PAIR_ROW = np.dtype(
    [("fields", ">i2"), ("len_a", ">i4"), ("a", ">i8"), ("len_b", ">i4"), ("b", ">i8")]
)


class BigintArray:
    """A one-dimensional BIGINT array parameter, laid out by numpy in Postgres's binary array format.

    Tens of thousands of keys per lookup: formatting them as an array literal cost the
    loader more than the lookup itself.
    """

    __slots__ = ("data",)

    def __init__(self, values: np.ndarray) -> None:
        n = int(values.shape[0])
        body = np.empty(n, dtype=_LENGTH_PREFIXED_BIGINT)
        body["len"], body["value"] = 8, values
        # ndim 1, no NULLs, element type int8; the dimension's length and lower bound 1
        self.data = np.array([1, 0, _INT8_OID, n, 1], dtype=">i4").tobytes() + body.tobytes()


_INT8_OID = postgres.types["int8"].oid
_LENGTH_PREFIXED_BIGINT = np.dtype([("len", ">i4"), ("value", ">i8")])


class _BigintArrayDumper(Dumper):
    format = Format.BINARY
    oid = postgres.types["int8"].array_oid

    def dump(self, obj: BigintArray) -> bytes:
        return obj.data


def bigint_array_adapters(cursor: Cursor) -> None:
    """Let ``cursor`` take :class:`BigintArray` parameters."""
    cursor.adapters.register_dumper(BigintArray, _BigintArrayDumper)


def insert_bigint_pairs(
    conn: Connection, table: Table, columns: tuple[str, str], a: np.ndarray, b: np.ndarray
) -> int:
    """Insert rows of two BIGINT columns given as equal-length integer arrays.

    The index tables take tens of rows per article; on Postgres the rows go in
    as one binary COPY buffer laid out by numpy, with no Python work per row.
    """
    n = int(a.shape[0])
    if n == 0:
        return 0
    if conn.dialect.name != "postgresql":
        first, second = columns
        rows = [{first: x, second: y} for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        conn.execute(insert(table), rows)
        return n
    rows = np.empty(n, dtype=_BIGINT_PAIR_ROW)
    rows["fields"], rows["len_a"], rows["len_b"] = 2, 8, 8
    rows["a"], rows["b"] = a, b
    col_sql = ", ".join(f'"{c}"' for c in columns)
    driver_conn = conn.connection.driver_connection
    with (
        driver_conn.cursor() as cur,
        cur.copy(f'COPY "{table.name}" ({col_sql}) FROM STDIN (FORMAT BINARY)') as copy,
    ):
        copy.write(_BINARY_HEADER + rows.tobytes() + _BINARY_TRAILER)
    return n
