"""session rollups remember that the session's attendance was purged

``kohtaamo attendance purge`` (and ``attendance_retention_days``) delete old participants and
intervals but keep the rollups, so reports show the same figures; ``purged`` tells a later
recomputation (a new headcount, another brief-visit threshold) to keep the online figures
rather than fold the intervals that are gone.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "session_rollups",
        sa.Column("purged", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("session_rollups") as batch:
        batch.drop_column("purged")
