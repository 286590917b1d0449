"""Backups in the spec: restic repositories, jobs with a source, schedule, retention, verify and drills.

A schedule is a cron expression or one of the words people write in their standards: ``hourly``,
``daily``, ``2x daily``, ``weekly``, ``monthly`` (each at a fixed time derived below, in the project time
zone). Credentials — database URLs, repository passwords, S3 keys — come from ``${ENV}`` only.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from siaga.spec.calendar import validate_cron
from siaga.spec.channels import Secret
from siaga.spec.durations import Duration

# The words a schedule may be, and the cron each stands for (01:00 local: after the day's traffic, before
# the 02:00 maintenance windows the seeds use).
SCHEDULE_WORDS: dict[str, str] = {
    "hourly": "0 * * * *",
    "daily": "0 1 * * *",
    "2x daily": "0 1,13 * * *",
    "twice daily": "0 1,13 * * *",
    "weekly": "0 1 * * 0",
    "monthly": "0 1 1 * *",
}


def schedule_cron(text: str) -> str:
    """Given a schedule as written, return its cron expression."""
    return SCHEDULE_WORDS.get(" ".join(text.lower().split()), text)


def _schedule(text: str) -> str:
    word = " ".join(text.lower().split())
    if word in SCHEDULE_WORDS:
        return text
    try:
        validate_cron(text)
    except ValueError as exc:
        words = ", ".join(f"'{w}'" for w in SCHEDULE_WORDS)
        raise ValueError(f"{exc} (or write one of {words})") from None
    return text


Schedule = Annotated[str, AfterValidator(_schedule)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Location(_Model):
    """An S3-compatible bucket (AWS, MinIO, Ceph…)."""

    endpoint: str = Field(
        min_length=1, description="Endpoint URL, e.g. https://s3.ap-southeast-3.amazonaws.com."
    )
    bucket: str = Field(min_length=1, description="Bucket name.")
    prefix: str = Field("", description="Folder inside the bucket.")
    region: str | None = Field(None, description="Region, when the endpoint needs one.")


class Repository(_Model):
    """A restic repository (AES-256 encrypted, deduplicated): a local path or an S3 bucket."""

    path: str | None = Field(None, min_length=1, description="Local (or mounted) directory.")
    s3: S3Location | None = Field(None, description="S3-compatible bucket.")
    password: Secret = Field(description="Repository password, from ${ENV_VAR}.")
    access_key: Secret | None = Field(None, description="S3 access key id, from ${ENV_VAR}.")
    secret_key: Secret | None = Field(None, description="S3 secret key, from ${ENV_VAR}.")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.path is None) == (self.s3 is None):
            raise ValueError("path: a repository is either a local `path` or an `s3` bucket")
        if self.s3 is not None and (self.access_key is None or self.secret_key is None):
            raise ValueError("access_key: an s3 repository needs access_key and secret_key")
        return self


SOURCE_KINDS = ("postgres", "mariadb", "mysql", "sqlite", "directory")


class Source(_Model):
    """What a job backs up; exactly one key."""

    postgres: Secret | None = Field(None, description="postgresql:// URL, from ${ENV_VAR}: pg_dump -Fc.")
    mariadb: Secret | None = Field(
        None, description="mysql:// or mariadb:// URL, from ${ENV_VAR}: mariadb-dump --single-transaction."
    )
    mysql: Secret | None = Field(None, description="Same as mariadb (mysqldump-compatible servers).")
    sqlite: str | None = Field(None, min_length=1, description="SQLite file: the online backup API.")
    directory: str | None = Field(None, min_length=1, description="A directory tree.")
    deduplicate: bool = Field(
        False,
        description=(
            "postgres only. false (default): pg_dump compresses (zlib level 1), the fastest backup, and "
            "each backup stores every changed table whole. true: an uncompressed dump that restic "
            "compresses and deduplicates, so backups share unchanged data (a far smaller repository "
            "under long retention) for about twice the CPU; counts and checksums are then taken by "
            "queries in the dump's snapshot."
        ),
    )

    @property
    def kind(self) -> str:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [kind for kind in SOURCE_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a source needs exactly one of {', '.join(SOURCE_KINDS)}")
        if self.deduplicate and kinds[0] != "postgres":
            raise ValueError(
                "deduplicate is for postgres sources (the other kinds are never compressed first)"
            )
        return self


class RetentionPolicy(_Model):
    """Which snapshots to keep (GFS, restic's semantics: the newest snapshot in each of the last n calendar
    hours / days / weeks / months / years that have one). Failed backups never count."""

    keep_last: int | None = Field(None, ge=1, description="The n newest successful snapshots.")
    keep_hourly: int | None = Field(
        None, ge=1, description="The newest snapshot of each of the last n hours."
    )
    keep_daily: int | None = Field(None, ge=1, description="The newest snapshot of each of the last n days.")
    keep_weekly: int | None = Field(
        None, ge=1, description="The newest snapshot of each of the last n ISO weeks."
    )
    keep_monthly: int | None = Field(
        None, ge=1, description="The newest snapshot of each of the last n months."
    )
    keep_yearly: int | None = Field(
        None, ge=1, description="The newest snapshot of each of the last n years."
    )
    keep_within: Duration | None = Field(None, description="Every snapshot younger than this.")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("a retention policy needs at least one keep_* rule (else nothing would be kept)")
        return self


class Drill(_Model):
    """A restore drill: restore into a scratch target, validate, and measure the RTO and RPO achieved."""

    every: Schedule = Field(description="When drills run (cron or daily / weekly / monthly…).")
    rto: Duration = Field(description="Target: the whole restore, through validation, takes at most this.")
    rpo: Duration = Field(description="Target: at most this much recent data may be lost.")


class Hooks(_Model):
    """Shell commands around a backup (e.g. stop a writer, flush a cache); a failing `before` fails it."""

    before: list[str] = Field([], description="Run before the backup; a non-zero exit fails the backup.")
    after: list[str] = Field([], description="Run after a successful backup.")
    on_failure: list[str] = Field([], description="Run after a failed backup.")


class Job(_Model):
    """One backup job."""

    source: Source = Field(description="What to back up.")
    schedule: Schedule = Field(description="When: cron, or hourly / daily / 2x daily / weekly / monthly.")
    repositories: list[str] = Field(
        min_length=1, description="Repositories it writes to (keys of `repositories`)."
    )
    retention: RetentionPolicy | None = Field(None, description="Which snapshots to keep; default all.")
    verify: Schedule | None = Field(
        None,
        description="When to verify: `restic check` reading a rotating subset of the data (all of it at "
        "least every 4 weeks) and a restore compared with the counts and checksums taken at backup time.",
    )
    drill: Drill | None = Field(None, description="Restore drills with RTO / RPO targets.")
    pitr: bool = Field(
        False, description="PostgreSQL only: continuous WAL archiving for point-in-time recovery."
    )
    hooks: Hooks = Field(default_factory=Hooks, description="Commands around the backup.")
    timeout: Duration | None = Field(None, description="Longest a backup may run before it is failed.")
    severity: str | None = Field(
        None,
        description="Severity of the job's alerts (failed, stale, verify, drill); default the second level.",
    )

    @model_validator(mode="after")
    def _pitr_postgres(self) -> Self:
        if self.pitr and self.source.kind != "postgres":
            raise ValueError("pitr: point-in-time recovery is for postgres sources")
        return self


class Backups(_Model):
    """Backup repositories and jobs."""

    repositories: dict[str, Repository] = Field({}, description="restic repositories by name.")
    jobs: dict[str, Job] = Field({}, description="Backup jobs by name.")

    @model_validator(mode="after")
    def _known_repositories(self) -> Self:
        for name, job in self.jobs.items():
            for repo in job.repositories:
                if repo not in self.repositories:
                    known = ", ".join(sorted(self.repositories)) or "none"
                    raise ValueError(
                        f"jobs.{name}.repositories: unknown repository '{repo}' (defined: {known})"
                    )
        return self
