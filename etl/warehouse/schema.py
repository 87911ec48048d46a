"""Getting a warehouse ready for a load: schema at head, dedup settings compatible."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from etl.config import DedupConfig
from etl.warehouse.index import ensure_fingerprint
from etl.warehouse.migrate import upgrade


def prepare_warehouse(engine: Engine, cfg: DedupConfig) -> bool:
    """Upgrade the schema (Alembic) and check the index fingerprint; True if migrations ran."""
    migrated = upgrade(engine)
    with engine.begin() as conn:
        ensure_fingerprint(conn, cfg)
    return migrated
