"""duplicates.relation: how a dropped record relates to the kept story

Revision ID: b41c7e2d9a10
Revises: 93fe73e9bcd9
Create Date: 2026-11-26 19:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b41c7e2d9a10"
down_revision: str | Sequence[str] | None = "93fe73e9bcd9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("duplicates") as batch:
        batch.add_column(sa.Column("relation", sa.String(length=12), nullable=True))
    # Exact duplicates loaded before this column existed are copies; near ones stay unknown.
    op.execute("UPDATE duplicates SET relation = 'copy' WHERE method = 'exact'")


def downgrade() -> None:
    with op.batch_alter_table("duplicates") as batch:
        batch.drop_column("relation")
