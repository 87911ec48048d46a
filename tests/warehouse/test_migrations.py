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


# --- f3b9d7a5c2e1: foreign keys to runs, CHECK constraints, one set of count names ----------

BEFORE_RUN_KEYS = "e8a4c6b2d1f9"


def _fill_previous_head(conn) -> None:
    """A warehouse at the previous head as real ones are: counts, and run ids without a runs row."""
    from sqlalchemy import text

    def run(rid: str, status: str = "completed") -> None:
        conn.execute(
            text(
                "INSERT INTO runs (id, kind, parameters, status, started_at, dumps_read, dumps_skipped,"
                " records_read, articles, exact_duplicates, near_duplicates, rejects)"
                " VALUES (:id, 'ingest', '{}', :st, '2026-11-30 10:00:00+00:00', 1, 0, 5, 2, 1, 1, 1)"
            ),
            {"id": rid, "st": status},
        )

    run("r1")
    run("r2", "abandoned")
    conn.execute(
        text(
            "INSERT INTO dumps (id, source, location, sha256, size, status, records_done, articles,"
            " duplicates, rejects, first_run_id, last_run_id, created_at) VALUES"
            " (1, 's', 'l', 'x', 0, 'done', 5, 2, 2, 1, 'r1', 'ghost', '2026-11-30 09:00:00+00:00'),"
            " (2, 's', 'm', 'y', 0, 'unknown_format', 1, 0, 0, 1, 'r2', 'r2', '2026-11-30 09:00:00+00:00')"
        )
    )
    for aid, rid in ((1, "r1"), (2, "gone")):
        conn.execute(
            text(
                "INSERT INTO articles (id, run_id, dump_id, ordinal, source, locator, title, body, topics,"
                " persons, authors, content_hash, ingested_at) VALUES (:id, :run, 1, :id, 's', 'l', 't', 'b',"
                " '[]', '[]', '[]', 'h', '2026-11-30 08:00:00+00:00')"
            ),
            {"id": aid, "run": rid},
        )
    for ordinal, method in ((3, "exact"), (4, "near")):
        conn.execute(
            text(
                "INSERT INTO duplicates (run_id, dump_id, ordinal, source, locator, title, content_hash,"
                " duplicate_of, method, measure, similarity) VALUES ('r1', 1, :o, 's', 'l', 't', 'h', 1,"
                " :m, 'hash', 1.0)"
            ),
            {"o": ordinal, "m": method},
        )
    conn.execute(
        text(
            "INSERT INTO rejects (run_id, dump_id, ordinal, source, locator, reason_code, reason, raw)"
            " VALUES ('r1', 1, 5, 's', 'l', 'empty', 'no text', '')"
        )
    )
    conn.execute(
        text(
            "INSERT INTO partitions (source, day, status, run_id, attempts, records, articles, duplicates,"
            " rejects, started_at) VALUES"
            " ('s', '2026-11-28', 'done', 'r1', 1, 5, 2, 2, 1, '2026-11-30 10:00:00+00:00'),"
            " ('s', '2026-11-29', 'abandoned', 'flowrun', 2, 0, 0, 0, 0, NULL),"
            " ('s', '2026-11-30', 'failed', '', 1, 0, 0, 0, 0, NULL),"
            " ('t', '2026-11-28', 'done', 'r1', 1, 3, 0, 3, 0, NULL)"
        )
    )


def test_run_keys_upgrade_keeps_every_row_and_can_be_undone(engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from etl.warehouse.migrate import downgrade

    upgrade(engine, BEFORE_RUN_KEYS)
    with engine.begin() as conn:
        _fill_previous_head(conn)

    assert upgrade(engine) is True

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        runs = {r.id: r for r in conn.execute(text("SELECT * FROM runs"))}
        dumps = conn.execute(
            text("SELECT id, articles, exact_duplicates, near_duplicates, rejects FROM dumps ORDER BY id")
        ).all()
        parts = conn.execute(
            text(
                "SELECT source, status, run_id, records, exact_duplicates, near_duplicates FROM partitions"
                " ORDER BY source, day"
            )
        ).all()
    assert runs["r1"].records == 5
    # run ids that rows named without a runs row now have a placeholder that says so
    placeholders = {rid for rid, r in runs.items() if r.error and r.error.startswith("placeholder")}
    assert placeholders == {"ghost", "gone", "flowrun"}
    assert {(runs[p].kind, runs[p].status, runs[p].records) for p in placeholders} == {
        ("ingest", "abandoned", 0)
    }
    # the single duplicates count is split by the dump's (or the partition run's) duplicate rows
    assert [tuple(d) for d in dumps] == [(1, 2, 1, 1, 1), (2, 0, 0, 0, 1)]
    assert [tuple(p) for p in parts] == [
        ("s", "done", "r1", 5, 1, 1),
        ("s", "abandoned", "flowrun", 0, 0, 0),
        ("s", "failed", None, 0, 0, 0),
        ("t", "done", "r1", 3, 0, 3),  # no exact rows of run r1 in source t: counted as near
    ]

    refused = [
        "UPDATE runs SET status = 'finished' WHERE id = 'r1'",
        "UPDATE dumps SET status = 'skipped' WHERE id = 1",
        "UPDATE partitions SET status = 'running?' WHERE run_id = 'r1'",
        "UPDATE duplicates SET method = 'fuzzy' WHERE ordinal = 3",
        "UPDATE articles SET run_id = 'no-such-run' WHERE id = 1",
        "UPDATE dumps SET last_run_id = 'no-such-run' WHERE id = 1",
        "UPDATE partitions SET run_id = 'no-such-run' WHERE run_id = 'r1'",
    ]
    for statement in refused:
        with engine.connect() as conn:
            try:
                conn.execute(text(statement))
            except IntegrityError:
                conn.rollback()
            else:
                raise AssertionError(f"the schema accepted: {statement}")

    downgrade(engine, BEFORE_RUN_KEYS)
    with engine.connect() as conn:
        assert current_revision(engine) == BEFORE_RUN_KEYS
        assert conn.execute(text("SELECT records_read FROM runs WHERE id = 'r1'")).scalar_one() == 5
        assert conn.execute(text("SELECT duplicates FROM dumps WHERE id = 1")).scalar_one() == 2
        assert conn.execute(text("SELECT sum(duplicates) FROM partitions")).scalar_one() == 5
        conn.execute(text("UPDATE runs SET status = 'finished' WHERE id = 'r1'"))  # no CHECK any more
        conn.rollback()
    assert upgrade(engine) is True
    assert current_revision(engine) == head_revision()


def test_run_keys_upgrade_names_the_rows_it_cannot_constrain(engine) -> None:
    import pytest
    from sqlalchemy import text

    upgrade(engine, BEFORE_RUN_KEYS)
    with engine.begin() as conn:
        _fill_previous_head(conn)
        conn.execute(text("UPDATE runs SET status = 'weird' WHERE id = 'r2'"))
        conn.execute(text("UPDATE duplicates SET method = 'minhash' WHERE ordinal = 4"))

    with pytest.raises(RuntimeError) as failed:
        upgrade(engine)
    message = str(failed.value)
    assert "runs.status holds 'weird' (1 rows)" in message
    assert "duplicates.method holds 'minhash' (1 rows); allowed: exact, near" in message
    assert current_revision(engine) == BEFORE_RUN_KEYS  # nothing half-done
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 2


def _allowed_values(sql: str) -> set[str]:
    import re

    return set(re.findall(r"'([^']*)'", sql))


def test_check_constraints_in_the_database_are_those_of_the_models(engine) -> None:
    """compare_metadata ignores CHECK constraints: a value added to etl.warehouse.states needs a migration."""
    from sqlalchemy import CheckConstraint

    upgrade(engine)
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        checks = [c for c in table.constraints if isinstance(c, CheckConstraint)]
        modelled = {c.name: _allowed_values(str(c.sqltext)) for c in checks}
        reflected = inspector.get_check_constraints(table.name)
        found = {c["name"]: _allowed_values(c["sqltext"]) for c in reflected}
        assert found == modelled, table.name
