"""checks: results, rollups, rule states

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from siaga.adapters.db.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("check_hours", "check_minutes"):
        op.create_table(
            name,
            sa.Column("check_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("minute", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("degraded", sa.Integer(), nullable=False),
            sa.Column("latency_sum", sa.Float(), nullable=False),
            sa.Column("histogram", sa.String(length=200), nullable=False),
            sa.PrimaryKeyConstraint("check_id", "minute", name=op.f(f"pk_{name}")),
            sqlite_with_rowid=False,
        )
    op.create_table(
        "check_results",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_results")),
    )
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.create_index("ix_check_results_at", ["at"], unique=False)

    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("every_s", sa.Float(), nullable=False),
        sa.Column("push_token", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failing_since", UtcDateTime(), nullable=True),
        sa.Column("alerting", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=True),
        sa.Column("last_run_at", UtcDateTime(), nullable=True),
        sa.Column("last_latency", sa.Float(), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("last_ping_at", UtcDateTime(), nullable=True),
        sa.Column("last_ping_kind", sa.String(length=20), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
        sa.UniqueConstraint("push_token", name=op.f("uq_checks_push_token")),
        sa.UniqueConstraint("service", "name", name=op.f("uq_checks_service_name")),
    )
    op.create_table(
        "rule_states",
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("instance", sa.String(length=400), nullable=False),
        sa.Column("active_since", UtcDateTime(), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "instance", name=op.f("pk_rule_states")),
    )


def downgrade() -> None:
    op.drop_table("rule_states")
    op.drop_table("checks")
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_index("ix_check_results_at")
    op.drop_table("check_results")
    op.drop_table("check_minutes")
    op.drop_table("check_hours")
