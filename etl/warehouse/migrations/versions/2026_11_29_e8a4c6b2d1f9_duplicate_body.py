"""duplicates.body_z: the dropped record's body, zlib-compressed, so explain can diff it

Revision ID: e8a4c6b2d1f9
Revises: d5e1f0a2b7c3
Create Date: 2026-11-29 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8a4c6b2d1f9"
down_revision: str | Sequence[str] | None = "d5e1f0a2b7c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("duplicates") as batch:
        batch.add_column(sa.Column("body_z", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("duplicates") as batch:
        batch.drop_column("body_z")
