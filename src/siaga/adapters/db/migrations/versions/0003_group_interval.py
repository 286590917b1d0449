"""escalations: group_interval notices

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from siaga.adapters.db.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_due_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_notice_at", UtcDateTime(), nullable=True))
        batch_op.create_index("ix_escalations_update_due_at", ["update_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalations_update_due_at")
        batch_op.drop_column("last_notice_at")
        batch_op.drop_column("update_due_at")
