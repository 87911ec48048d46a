"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from etl.warehouse.migrate import current_revision, head_revision, upgrade
from etl.warehouse.models import Base

CONTRACT = {"articles", "duplicates", "rejects", "dumps", "runs", "lsh_bands", "article_signatures"}


def test_upgrade_creates_the_contract_tables_and_matches_the_models(engine) -> None:
    assert upgrade(engine) is True
    tables = set(inspect(engine).get_table_names())
    assert tables >= CONTRACT
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_a_no_op(engine) -> None:
    upgrade(engine)
    assert upgrade(engine) is False
