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


def test_upgrade_from_the_first_revision_keeps_rows_and_fills_relation(engine) -> None:
    from sqlalchemy import text

    upgrade(engine, "93fe73e9bcd9")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO dumps (id, source, location, sha256, size, status, records_done, articles,"
                " duplicates, rejects) VALUES (1, 's', 'l', 'x', 0, 'done', 2, 1, 1, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO articles (id, run_id, dump_id, ordinal, source, locator, title, body, topics,"
                " persons, authors, content_hash) VALUES (1, 'r', 1, 0, 's', 'l#0', 't', 'b', '[]', '[]',"
                " '[]', 'h')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO duplicates (run_id, dump_id, ordinal, source, locator, title, content_hash,"
                " duplicate_of, method, measure, similarity) VALUES ('r', 1, 1, 's', 'l#1', 't', 'h', 1,"
                " 'exact', 'hash', 1.0)"
            )
        )
    assert upgrade(engine) is True
    with engine.connect() as conn:
        assert conn.execute(text("SELECT relation FROM duplicates")).scalar_one() == "copy"
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
