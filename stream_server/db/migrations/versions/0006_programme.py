"""the programme: weekly series, cancellations, in-person-only sessions, staff roles, audit log

- ``series``: a weekly rule and what its occurrences share (join code, token digests);
- ``sessions``: ``series_id``, ``status`` (scheduled/cancelled), ``cancel_reason``,
  ``online`` (false: in person only) and ``caption_token_hash``; the join code is no longer
  unique (a series' occurrences share one);
- ``organisers``: the kind ``resident``, a library contact person and a contact e-mail;
- ``staff_users``: ``role`` (existing accounts become ``admin``), ``venue_id``,
  ``organiser_id``;
- ``audit_log``: every change staff make;
- ``device_invitations``: a tablet may be invited to a whole series.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATUS = sa.Enum("scheduled", "cancelled", name="sessionstatus", native_enum=False, length=20)
ROLE = sa.Enum(
    "admin", "staff", "librarian", "coordinator", name="staffrole", native_enum=False, length=20
)


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("weekdays", sa.String(length=30), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("exceptions", sa.Text(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=True),
        sa.Column("join_code", sa.String(length=16), nullable=False),
        sa.Column("host_token_hash", sa.String(length=64), nullable=False),
        sa.Column("publish_token_hash", sa.String(length=64), nullable=False),
        sa.Column("caption_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_series_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["organiser_id"], ["organisers.id"], name=op.f("fk_series_organiser_id_organisers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("join_code", name=op.f("uq_series_join_code")),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("uq_sessions_join_code", type_="unique")
        batch.create_index("ix_sessions_join_code", ["join_code"], unique=False)
        batch.add_column(sa.Column("caption_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("series_id", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("status", STATUS, nullable=False, server_default="scheduled"))
        batch.add_column(sa.Column("cancel_reason", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column("online", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.create_foreign_key(
            op.f("fk_sessions_series_id_series"),
            "series",
            ["series_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_sessions_series_id", ["series_id"], unique=False)
        batch.create_index("ix_sessions_room_id_starts_at", ["room_id", "starts_at"], unique=False)
    with op.batch_alter_table("organisers") as batch:
        batch.alter_column(
            "kind",
            existing_type=sa.Enum(
                "city", "association", "partner", name="organiserkind", native_enum=False, length=20
            ),
            type_=sa.Enum(
                "city",
                "association",
                "partner",
                "resident",
                name="organiserkind",
                native_enum=False,
                length=20,
            ),
            existing_nullable=False,
        )
        batch.add_column(
            sa.Column("contact_person", sa.String(length=160), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("contact_email", sa.String(length=254), nullable=False, server_default="")
        )
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("role", ROLE, nullable=False, server_default="admin"))
        batch.add_column(sa.Column("venue_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("organiser_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_staff_users_venue_id_venues"), "venues", ["venue_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_staff_users_organiser_id_organisers"), "organisers", ["organiser_id"], ["id"]
        )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_name", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=40), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_audit_log_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_staff_id_id", "audit_log", ["staff_id", "id"], unique=False)
    with op.batch_alter_table("device_invitations") as batch:
        batch.alter_column("session_id", existing_type=sa.String(length=16), nullable=True)
        batch.add_column(sa.Column("series_id", sa.String(length=16), nullable=True))
        batch.create_foreign_key(
            op.f("fk_device_invitations_series_id_series"),
            "series",
            ["series_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_unique_constraint(
            "uq_device_invitations_device_series", ["device_id", "series_id"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM device_invitations WHERE session_id IS NULL")
    with op.batch_alter_table("device_invitations") as batch:
        batch.drop_constraint("uq_device_invitations_device_series", type_="unique")
        batch.drop_constraint(op.f("fk_device_invitations_series_id_series"), type_="foreignkey")
        batch.drop_column("series_id")
        batch.alter_column("session_id", existing_type=sa.String(length=16), nullable=False)
    op.drop_index("ix_audit_log_staff_id_id", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(op.f("fk_staff_users_organiser_id_organisers"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_staff_users_venue_id_venues"), type_="foreignkey")
        batch.drop_column("organiser_id")
        batch.drop_column("venue_id")
        batch.drop_column("role")
    op.execute("UPDATE organisers SET kind = 'association' WHERE kind = 'resident'")
    with op.batch_alter_table("organisers") as batch:
        batch.drop_column("contact_email")
        batch.drop_column("contact_person")
    # Occurrences of a series shared a join code; give each its own again (unique).
    op.execute(
        "UPDATE sessions SET join_code = substr(join_code || upper(id), 1, 16) "
        "WHERE series_id IS NOT NULL"
    )
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_room_id_starts_at")
        batch.drop_index("ix_sessions_series_id")
        batch.drop_constraint(op.f("fk_sessions_series_id_series"), type_="foreignkey")
        batch.drop_column("online")
        batch.drop_column("cancel_reason")
        batch.drop_column("status")
        batch.drop_column("series_id")
        batch.drop_column("caption_token_hash")
        batch.drop_index("ix_sessions_join_code")
        batch.create_unique_constraint("uq_sessions_join_code", ["join_code"])
    op.drop_table("series")
