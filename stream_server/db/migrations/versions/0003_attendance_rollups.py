"""attendance rollups for reports, covering indexes

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stream_server.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_rollups",
        sa.Column("session_id", sa.String(length=16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("online_total", sa.Integer(), nullable=False),
        sa.Column("brief_visits", sa.Integer(), nullable=False),
        sa.Column("online_seconds", sa.Float(), nullable=False),
        sa.Column("peak_online", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_rollups_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_rollups")),
    )
    op.create_index("ix_session_rollups_starts_at", "session_rollups", ["starts_at"])
    op.create_index("ix_session_rollups_dirty", "session_rollups", ["dirty"])
    op.create_table(
        "venue_rollups",
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("session_id", sa.String(length=16), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("in_person", sa.Integer(), nullable=False),
        sa.Column("online_total", sa.Integer(), nullable=False),
        sa.Column("brief_visits", sa.Integer(), nullable=False),
        sa.Column("online_seconds", sa.Float(), nullable=False),
        sa.Column("survey_sum", sa.Integer(), nullable=False),
        sa.Column("survey_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_venue_rollups_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_venue_rollups_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint(
            "starts_at", "session_id", "venue_id", name=op.f("pk_venue_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_venue_rollups_session_id", "venue_rollups", ["session_id"])
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
    )
    # One session's figures read its participants' intervals: with these covering indexes
    # SQLite answers from the index alone, without visiting the table rows.
    op.create_index(
        "ix_attendance_intervals_participant_span",
        "attendance_intervals",
        ["participant_id", "joined_at", "left_at"],
    )
    op.create_index(
        "ix_participants_session_channel",
        "participants",
        ["session_id", "id", "channel", "venue_id"],
    )
    op.create_index("ix_survey_answers_session_score", "survey_answers", ["session_id", "score"])


def downgrade() -> None:
    op.drop_index("ix_survey_answers_session_score", table_name="survey_answers")
    op.drop_index("ix_participants_session_channel", table_name="participants")
    op.drop_index("ix_attendance_intervals_participant_span", table_name="attendance_intervals")
    op.drop_table("rollup_watermarks")
    op.drop_index("ix_venue_rollups_session_id", table_name="venue_rollups")
    op.drop_table("venue_rollups")
    op.drop_index("ix_session_rollups_dirty", table_name="session_rollups")
    op.drop_index("ix_session_rollups_starts_at", table_name="session_rollups")
    op.drop_table("session_rollups")
