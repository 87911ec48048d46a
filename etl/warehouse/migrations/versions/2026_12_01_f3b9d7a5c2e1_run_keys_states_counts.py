"""run foreign keys, CHECK constraints on states and methods, one set of count names

Revision ID: f3b9d7a5c2e1
Revises: e8a4c6b2d1f9
Create Date: 2026-12-01 10:00:00

- Every ``run_id`` (articles, duplicates, rejects, partitions) and ``dumps.first_run_id``/
  ``last_run_id`` gets a foreign key to ``runs.id``. Run ids that have no ``runs`` row
  get a placeholder row (kind ``ingest``, status ``abandoned``, an ``error`` saying
  why), so no loaded row loses the id of the run that wrote it; an empty
  ``partitions.run_id`` (a flow run without an id) becomes NULL.
- ``runs.status``, ``dumps.status``, ``partitions.status`` and ``duplicates.method`` may
  only hold the values etl.warehouse.states lists (the values below are those of
  this revision). Rows with other values stop the upgrade with a message naming them.
- The counts of ``runs``, ``dumps`` and ``partitions`` take the names of
  etl.warehouse.load.BatchCounts: ``runs.records_read`` becomes ``records``; the
  single ``duplicates`` count of dumps and partitions becomes ``exact_duplicates`` and
  ``near_duplicates``. The split is read back from the ``duplicates`` rows of the dump
  (or of the partition's run), at most the stored total; the rest counts as near
  (e.g. a partition whose last run only found its dump unchanged).

On SQLite, batch mode copies each table (etl.warehouse.migrate turns foreign keys
off around the copy and checks them before committing). Downgrade drops the
constraints and restores the old columns (duplicates = exact + near); placeholder
runs rows stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f3b9d7a5c2e1"
down_revision: str | Sequence[str] | None = "e8a4c6b2d1f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (etl.warehouse.states may grow; a new value needs a new revision).
ALLOWED = {
    ("runs", "status"): ("running", "completed", "failed", "abandoned"),
    ("dumps", "status"): ("loading", "done", "failed", "abandoned", "unknown_format"),
    ("partitions", "status"): ("pending", "running", "done", "empty", "failed", "abandoned"),
    ("duplicates", "method"): ("exact", "near"),
}
# (table, column, nullable): the columns that name a run
RUN_REFERENCES = (
    ("articles", "run_id", False),
    ("duplicates", "run_id", False),
    ("rejects", "run_id", False),
    ("dumps", "first_run_id", True),
    ("dumps", "last_run_id", True),
    ("partitions", "run_id", True),
)
PLACEHOLDER_ERROR = (
    "placeholder: rows named this run but it had no runs row; added by the upgrade to revision f3b9d7a5c2e1"
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _check_values(conn) -> None:
    """Stop before changing anything when a column holds a value its CHECK would refuse."""
    problems = []
    for (table, column), values in ALLOWED.items():
        bad = conn.execute(
            sa.text(
                f"SELECT {column}, count(*) FROM {table}"
                f" WHERE {column} IS NULL OR NOT ({_one_of(column, values)})"
                f" GROUP BY {column} ORDER BY {column}"
            )
        ).all()
        if bad:
            found = ", ".join(f"{v!r} ({n} rows)" for v, n in bad)
            problems.append(f"{table}.{column} holds {found}; allowed: {', '.join(values)}")
    if problems:
        raise RuntimeError(
            "cannot add the CHECK constraints of revision f3b9d7a5c2e1: "
            + "; ".join(problems)
            + ". Correct or delete those rows, then upgrade again."
        )


def _add_placeholder_runs(conn) -> None:
    """A ``runs`` row for every run id that rows name without one, so the foreign keys hold."""
    conn.execute(sa.text("UPDATE partitions SET run_id = NULL WHERE run_id = ''"))
    seen = " UNION ".join(
        f"SELECT {column} AS run_id, {_when(table)} AS at FROM {table} WHERE {column} IS NOT NULL"
        for table, column, _ in RUN_REFERENCES
    )
    orphans = conn.execute(
        sa.text(
            f"SELECT s.run_id, min(s.at) FROM ({seen}) s LEFT JOIN runs r ON r.id = s.run_id"
            " WHERE r.id IS NULL GROUP BY s.run_id ORDER BY s.run_id"
        )
    ).all()
    if not orphans:
        return
    runs = sa.table(
        "runs",
        *(
            sa.column(c)
            for c in ("id", "kind", "status", "started_at", "finished_at", "error", "dumps_read")
            + ("dumps_skipped", "records_read", "articles", "exact_duplicates", "near_duplicates", "rejects")
        ),
        sa.column("parameters", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    conn.execute(
        runs.insert(),
        [
            {
                "id": run_id,
                "kind": "ingest",
                "parameters": {},
                "status": "abandoned",
                "started_at": at,
                "finished_at": at,
                "error": PLACEHOLDER_ERROR,
                **dict.fromkeys(
                    ("dumps_read", "dumps_skipped", "records_read", "articles")
                    + ("exact_duplicates", "near_duplicates", "rejects"),
                    0,
                ),
            }
            for run_id, at in orphans
        ],
    )


def _when(table: str) -> str:
    """The earliest time a table's row shows its run at work (for a placeholder's started_at)."""
    return {
        "dumps": "created_at",
        "partitions": "coalesce(started_at, finished_at, CURRENT_TIMESTAMP)",
    }.get(table, "ingested_at")


def _split_duplicates(conn, table: str, match: str) -> None:
    """Fill exact/near from the ``duplicates`` rows that ``match`` selects, within the stored total."""
    exact = f"(SELECT count(*) FROM duplicates d WHERE d.method = 'exact' AND {match})"
    conn.execute(
        sa.text(
            f"UPDATE {table} SET exact_duplicates = CASE WHEN {exact} < duplicates THEN {exact}"
            " ELSE duplicates END"
        )
    )
    conn.execute(sa.text(f"UPDATE {table} SET near_duplicates = duplicates - exact_duplicates"))


def _run_fk(batch, table: str, column: str) -> None:
    batch.create_foreign_key(op.f(f"fk_{table}_{column}_runs"), "runs", [column], ["id"])


def upgrade() -> None:
    conn = op.get_bind()
    _check_values(conn)
    _add_placeholder_runs(conn)

    with op.batch_alter_table("runs") as batch:
        batch.alter_column("records_read", new_column_name="records", existing_type=sa.Integer())
        batch.create_check_constraint(op.f("ck_runs_status"), _one_of("status", ALLOWED[("runs", "status")]))

    for table in ("dumps", "partitions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("exact_duplicates", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("near_duplicates", sa.Integer(), nullable=True))
    _split_duplicates(conn, "dumps", "d.dump_id = dumps.id")
    _split_duplicates(conn, "partitions", "d.run_id = partitions.run_id AND d.source = partitions.source")

    with op.batch_alter_table("dumps") as batch:
        batch.alter_column("exact_duplicates", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("near_duplicates", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("duplicates")
        batch.create_check_constraint(
            op.f("ck_dumps_status"), _one_of("status", ALLOWED[("dumps", "status")])
        )
        _run_fk(batch, "dumps", "first_run_id")
        _run_fk(batch, "dumps", "last_run_id")
    with op.batch_alter_table("partitions") as batch:
        batch.alter_column("exact_duplicates", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("near_duplicates", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("duplicates")
        batch.create_check_constraint(
            op.f("ck_partitions_status"), _one_of("status", ALLOWED[("partitions", "status")])
        )
        _run_fk(batch, "partitions", "run_id")
    with op.batch_alter_table("articles") as batch:
        _run_fk(batch, "articles", "run_id")
    with op.batch_alter_table("duplicates") as batch:
        _run_fk(batch, "duplicates", "run_id")
        batch.create_check_constraint(
            op.f("ck_duplicates_method"), _one_of("method", ALLOWED[("duplicates", "method")])
        )
    with op.batch_alter_table("rejects") as batch:
        _run_fk(batch, "rejects", "run_id")


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("rejects") as batch:
        batch.drop_constraint(op.f("fk_rejects_run_id_runs"), type_="foreignkey")
    with op.batch_alter_table("duplicates") as batch:
        batch.drop_constraint(op.f("ck_duplicates_method"), type_="check")
        batch.drop_constraint(op.f("fk_duplicates_run_id_runs"), type_="foreignkey")
    with op.batch_alter_table("articles") as batch:
        batch.drop_constraint(op.f("fk_articles_run_id_runs"), type_="foreignkey")

    for table in ("dumps", "partitions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("duplicates", sa.Integer(), nullable=True))
        conn.execute(sa.text(f"UPDATE {table} SET duplicates = exact_duplicates + near_duplicates"))
    with op.batch_alter_table("partitions") as batch:
        batch.drop_constraint(op.f("fk_partitions_run_id_runs"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_partitions_status"), type_="check")
        batch.drop_column("near_duplicates")
        batch.drop_column("exact_duplicates")
        batch.alter_column("duplicates", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("dumps") as batch:
        batch.drop_constraint(op.f("fk_dumps_last_run_id_runs"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_dumps_first_run_id_runs"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_dumps_status"), type_="check")
        batch.drop_column("near_duplicates")
        batch.drop_column("exact_duplicates")
        batch.alter_column("duplicates", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f("ck_runs_status"), type_="check")
        batch.alter_column("records", new_column_name="records_read", existing_type=sa.Integer())
