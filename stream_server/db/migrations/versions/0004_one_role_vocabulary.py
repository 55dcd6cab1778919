"""one role vocabulary in the ledger: WHIP publishers are hosts, WHEP viewers participants

Before, WHIP/WHEP connections were written as ``publisher``/``viewer`` and WebSocket ones as
``host``/``participant``. Now every channel uses ``stream_server.vocabulary.Role``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE participants SET role = 'host' WHERE role = 'publisher'")
    op.execute("UPDATE participants SET role = 'participant' WHERE role = 'viewer'")


def downgrade() -> None:
    # The channel tells which rows came from WHIP/WHEP.
    op.execute(
        "UPDATE participants SET role = 'publisher' WHERE role = 'host' AND channel = 'whip'"
    )
    op.execute(
        "UPDATE participants SET role = 'viewer' WHERE role = 'participant' AND channel = 'whep'"
    )
