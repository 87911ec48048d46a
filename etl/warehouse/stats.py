"""Planner statistics for the index tables while a fresh warehouse fills up.

Autovacuum analyzes a table once a tenth of it changed, but it looks only once a
minute: a first large ingest into an empty warehouse runs all its candidate
lookups with the statistics of an empty ``lsh_bands``, and Postgres then plans
them as a merge join over the whole index. Analyzing when a table has grown by
half since its last analysis costs a few ANALYZEs per doubling of the warehouse
(each samples a fixed number of rows) and keeps the lookups on their good plan.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger("newsetl")

TABLES = ("lsh_bands", "articles")
# Analyze once this many rows changed since the last analysis, and at least half the table.
MIN_CHANGED = 20_000
GROWTH = 0.5


def refresh_planner_stats(engine: Engine) -> list[str]:
    """ANALYZE the index tables that grew by half since their last analysis; returns their names.

    Best effort: a failure (a concurrent ANALYZE, a brief outage) is logged and
    left to autovacuum. SQLite plans these lookups without statistics.
    """
    if engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables"
                    " WHERE schemaname = current_schema() AND relname = ANY(:tables)"
                ),
                {"tables": list(TABLES)},
            ).all()
            stale = [name for name, changed, live in rows if changed >= max(MIN_CHANGED, GROWTH * live)]
            for name in stale:
                conn.execute(text(f'ANALYZE "{name}"'))
            conn.commit()
        return stale
    except Exception as exc:  # statistics are an optimisation: never fail a load over them
        log.debug("planner statistics not refreshed: %s", exc)
        return []
