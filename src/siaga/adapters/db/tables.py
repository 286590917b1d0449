"""SQLAlchemy Core tables: the one description of Siaga's state, shared by SQLite and PostgreSQL.

Alembic migrations under ``migrations/versions`` must produce exactly this schema; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps no zone, so values are normalised on the way in)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def copy(self, **kw: Any) -> UtcDateTime:
        return UtcDateTime()


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("group_key", sa.String(512), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("service", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(64), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
    sa.Column("acknowledged_by", sa.String(200), nullable=True),
    sa.Column("first_acknowledged_at", UtcDateTime(), nullable=True),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Column("assignee", sa.String(200), nullable=True),
    sa.Column("ack_due_at", UtcDateTime(), nullable=True),
    sa.Column("resolve_due_at", UtcDateTime(), nullable=True),
    sa.Column("ack_breached_at", UtcDateTime(), nullable=True),
    sa.Column("resolve_breached_at", UtcDateTime(), nullable=True),
    # Set when the last firing alert resolves; auto-resolve fires resolve_after later.
    sa.Column("alerts_resolved_at", UtcDateTime(), nullable=True),
    sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("postmortem_required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("postmortem", sa.Text, nullable=True),
    sa.Column("postmortem_attached_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_incidents_status_severity", "status", "severity"),
    sa.Index("ix_incidents_service", "service"),
    sa.Index("ix_incidents_opened_at", "opened_at"),
    # At most one open incident per group key: concurrent writers cannot both open one.
    sa.Index(
        "uq_incidents_open_group_key",
        "group_key",
        unique=True,
        sqlite_where=sa.text("status != 'resolved'"),
        postgresql_where=sa.text("status != 'resolved'"),
    ),
    sa.Index("ix_incidents_group_key_resolved_at", "group_key", "resolved_at"),
)

incident_events = sa.Table(
    "incident_events",
    metadata,
    sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", Json, nullable=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("fingerprint", sa.String(128), primary_key=True),
    sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("alertname", sa.Text, nullable=True),
    sa.Column("severity", sa.String(64), nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("annotations", Json, nullable=False),
    sa.Column("starts_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_alerts_incident_id_status", "incident_id", "status"),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("alertname", sa.Text, nullable=True),
    sa.Column("labels", Json, nullable=False),
    sa.Column("annotations", Json, nullable=False),
    sa.Column("starts_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("incident_id", BigId, nullable=True),
    sa.Index("ix_alert_events_fingerprint", "fingerprint"),
    sa.Index("ix_alert_events_received_at", "received_at"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
)

# -- paging ---------------------------------------------------------------------------------------------

# One row per incident that pages: its frozen policy and how far it got. Due rows are found by next_at.
escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("snapshot", Json, nullable=False),
    sa.Column("anchor_at", UtcDateTime(), nullable=False),
    sa.Column("fired", sa.Integer, nullable=False, server_default="0"),
    sa.Column("paused_at", UtcDateTime(), nullable=True),
    # active: timers run; muted: silenced / in maintenance / inhibited, checked again at next_at;
    # done: resolved or nothing left to fire.
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("muted_reason", sa.Text, nullable=True),
    sa.Column("next_at", UtcDateTime(), nullable=True),
    sa.Column("labels", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # group_interval: new alerts joined; tell those notified at update_due_at (last told at last_notice_at).
    sa.Column("update_due_at", UtcDateTime(), nullable=True),
    sa.Column("last_notice_at", UtcDateTime(), nullable=True),
    sa.Index("ix_escalations_next_at", "next_at"),
    sa.Index("ix_escalations_update_due_at", "update_due_at"),
)

# The transactional outbox: written with the change that causes the message, sent by the dispatcher.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("message", Json, nullable=False),
    # pending → sent | failed (permanent) | dead (gave up retrying) | cancelled (acknowledged, muted…)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("response_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_outbox_incident_id", "incident_id"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("matchers", Json, nullable=False),
    sa.Column("starts_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Ends early when this incident resolves ("expire when resolved").
    sa.Column("until_resolved", BigId, nullable=True),
    sa.Column("expired_at", UtcDateTime(), nullable=True),
    sa.Column("notice_sent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_silences_ends_at", "ends_at"),
)

oncall_overrides = sa.Table(
    "oncall_overrides",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("schedule", sa.String(200), nullable=False),
    sa.Column("person", sa.String(200), nullable=False),
    sa.Column("starts_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_oncall_overrides_schedule_ends_at", "schedule", "ends_at"),
)

# Cursors of periodic jobs (e.g. maintenance announcements: the end of the last interval scanned).
job_cursors = sa.Table(
    "job_cursors",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", UtcDateTime(), nullable=False),
)

# Checks known from the spec, with the state the scheduler carries between runs (so a restart keeps
# consecutive-failure counts and open alerts). A check removed from the spec keeps its row (and history)
# with `removed_at` set; re-adding it revives it.
checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("every_s", sa.Float, nullable=False),
    sa.Column("push_token", sa.String(64), nullable=True, unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("successes", sa.Integer, nullable=False),
    sa.Column("failing_since", UtcDateTime(), nullable=True),
    sa.Column("alerting", sa.Boolean, nullable=False),
    sa.Column("changed_at", UtcDateTime(), nullable=True),
    sa.Column("last_run_at", UtcDateTime(), nullable=True),
    sa.Column("last_latency", sa.Float, nullable=True),
    sa.Column("last_reason", sa.Text, nullable=True),
    sa.Column("last_ping_at", UtcDateTime(), nullable=True),
    sa.Column("last_ping_kind", sa.String(20), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("removed_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("service", "name"),
)

# One row per run, kept a few days (raw results); `status` is 0 up, 1 degraded, 2 down.
check_results = sa.Table(
    "check_results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("latency", sa.Float, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_check_results_at", "at"),
)


def _rollup(name: str) -> sa.Table:
    """Per-minute or per-hour aggregates of results: counts and a latency histogram (siaga.domain.slo).

    Kept small, as there is one row per check and minute: the bucket start as whole minutes since the Unix
    epoch, the histogram as comma-separated counts without trailing zeros ("0,0,0,1": JSONB would take
    five times the space), and on SQLite no rowid (the primary key is the table), so a row is stored once."""
    return sa.Table(
        name,
        metadata,
        sa.Column("check_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("minute", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("degraded", sa.Integer, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("histogram", sa.String(200), nullable=False),
        sqlite_with_rowid=False,
    )


check_minutes = _rollup("check_minutes")
check_hours = _rollup("check_hours")

# Rule instances (one rule over one check) that are pending or firing; inactive ones have no row.
rule_states = sa.Table(
    "rule_states",
    metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("instance", sa.String(400), primary_key=True),
    sa.Column("active_since", UtcDateTime(), nullable=False),
    sa.Column("firing", sa.Boolean, nullable=False),
)

# -- sign-in ---------------------------------------------------------------------------------------------

# Dashboard users: argon2id password hashes only. A disabled user keeps the row (names are never reused
# silently), loses every session and cannot sign in.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
)

# Browser sessions, keyed by the SHA-256 (hex) of the secret in the cookie: a copy of this table signs no
# one in. Expired rows are deleted when new sessions open.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Index("ix_web_sessions_user_id", "user_id"),
    sa.Index("ix_web_sessions_expires_at", "expires_at"),
)

# -- backups ---------------------------------------------------------------------------------------------

# One row per backup, verify, drill or forget run of a job, written in the same transaction as the alerts it
# raises or resolves. `detail` holds what differs by kind: the phases' seconds, the manifest's summary,
# RTO / RPO achieved, the snapshots a forget removed.
backup_runs = sa.Table(
    "backup_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # backup | verify | drill | forget
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("snapshots", Json, nullable=False),  # repository name → snapshot id
    sa.Column("bytes", sa.BigInteger, nullable=True),
    sa.Column("detail", Json, nullable=False),
    sa.Index("ix_backup_runs_job_kind_started", "job", "kind", "started_at"),
)

# -- security audits -------------------------------------------------------------------------------------

# One row per audit run: the scores and every finding (active and accepted), so the next run can say what is
# new and what was fixed, and the quarterly report can show the trend.
audit_runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=False),
    sa.Column("overall", sa.Integer, nullable=False),
    sa.Column("scores", Json, nullable=False),  # area → {score, findings, grade}
    sa.Column(
        "findings", Json, nullable=False
    ),  # [{key, rule, area, severity, location, message, evidence, fix, accepted}]
    sa.Index("ix_audit_runs_started", "started_at"),
)
