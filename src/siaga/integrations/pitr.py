"""Point-in-time recovery for PostgreSQL with pgBackRest: WAL archived continuously, restore to a time.

Siaga renders pgBackRest's configuration (one stanza per backup job with ``pitr: true``) and the
``postgresql.conf`` settings that archive WAL into it, runs ``stanza-create``, ``backup`` and ``info``, and
restores to a time into a new scratch data directory that a scratch PostgreSQL recovers and promotes.
Passphrases and S3 keys reach the pgBackRest that Siaga runs through its environment, and the one that
PostgreSQL's ``archive_command`` runs through an include file of mode 0600; never a command line, the
rendered configuration or a message.

Exceptions::

    PitrError
    ├── PgBackRestError       a pgbackrest command failed (its output, secrets removed)
    ├── RestoreTargetError    no base backup held can reach the target time
    └── ScratchClusterError   the scratch PostgreSQL did not start or its recovery failed (its log's tail)
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

from siaga.spec.backups import Repository as SpecRepository
from siaga.spec.backups import S3Location

__all__ = [
    "ARCHIVE_TIMEOUT_MAX",
    "BaseBackup",
    "Host",
    "PgBackRest",
    "PgBackRestError",
    "PitrError",
    "RestoreTargetError",
    "RestoredCluster",
    "ScratchClusterError",
    "StanzaInfo",
    "StanzaSetup",
    "WalRepository",
    "postgresql_settings",
    "render_config",
    "render_postgresql_conf",
    "select_base_backup",
    "write_config",
]

ARCHIVE_TIMEOUT_MAX = timedelta(minutes=5)  # the standard's RPO is 15 min; a third of it leaves room to fail
DEFAULT_CONFIG_PATH = Path("/etc/pgbackrest")
SECRETS_FILE = "conf.d/siaga-secrets.conf"
_STANZA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# pgBackRest stores backup times in whole seconds, rounded down: the backup is consistent by stop + 1 s.
_TIMESTAMP_SLACK = timedelta(seconds=1)


class PitrError(Exception):
    """Point-in-time recovery failed."""


class PgBackRestError(PitrError):
    """A pgbackrest command exited non-zero."""


class RestoreTargetError(PitrError):
    """The requested time cannot be restored from the backups held."""


class ScratchClusterError(PitrError):
    """The scratch PostgreSQL did not start, or its recovery did not reach the target."""


@dataclass(frozen=True, kw_only=True)
class WalRepository:
    """A pgBackRest repository: a local path or a path in an S3 bucket; AES-256 when it has a passphrase."""

    path: str
    cipher_pass: SecretStr | None = None
    s3: S3Location | None = None
    s3_key: SecretStr | None = None
    s3_key_secret: SecretStr | None = None
    retention_days: int = 7  # the standard: PITR for 7 days

    @classmethod
    def beside(cls, repo: SpecRepository, *, retention_days: int = 7) -> WalRepository:
        """Given a spec (restic) repository, return the pgBackRest repository kept beside it (``…-pitr``)."""
        if repo.s3 is not None:
            path = "/" + (repo.s3.prefix.strip("/") + "-pitr" if repo.s3.prefix.strip("/") else "pitr")
        else:
            path = str(repo.path).rstrip("/") + "-pitr"
        return cls(
            path=path,
            cipher_pass=repo.password,
            s3=repo.s3,
            s3_key=repo.access_key,
            s3_key_secret=repo.secret_key,
            retention_days=retention_days,
        )


@dataclass(frozen=True, kw_only=True)
class StanzaSetup:
    """One PostgreSQL cluster archived by pgBackRest (a backup job with ``pitr: true``)."""

    name: str
    pg_data_dir: Path
    repositories: tuple[WalRepository, ...]
    pg_port: int = 5432
    pg_socket_dir: Path = Path("/var/run/postgresql")
    pg_user: str = "postgres"
    archive_timeout: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if not _STANZA_NAME.fullmatch(self.name):
            raise ValueError(f"stanza name {self.name!r}: letters, digits, '_', '.' and '-' only")
        if not self.repositories:
            raise ValueError(f"stanza {self.name}: needs at least one repository")
        seconds = self.archive_timeout.total_seconds()
        if not 1 <= seconds <= ARCHIVE_TIMEOUT_MAX.total_seconds() or seconds != int(seconds):
            raise ValueError(f"stanza {self.name}: archive_timeout must be whole seconds in 1 s … 5 min")


@dataclass(frozen=True, kw_only=True)
class Host:
    """Where pgBackRest and PostgreSQL run: config location, the OS user owning the data, binaries."""

    config_path: Path = DEFAULT_CONFIG_PATH
    os_user: str | None = "postgres"  # commands run as this user (through runuser when Siaga is root)
    pg_bin_dir: Path | None = None  # None: Debian's /usr/lib/postgresql/<the backup's major>/bin
    log_path: Path | None = None  # pgBackRest's default: /var/log/pgbackrest
    lock_path: Path | None = None  # pgBackRest's default: /tmp/pgbackrest
    start_fast: bool = True  # an immediate checkpoint, not up to checkpoint_timeout of waiting


@dataclass(frozen=True)
class BaseBackup:
    """A base backup in the repository, with the WAL it needs to be consistent."""

    label: str
    type: str  # full | diff | incr
    repo: int
    pg_version: str  # the major version that wrote it, and that must restore it
    started_at: datetime
    stopped_at: datetime
    wal_start: str
    wal_stop: str

    @property
    def consistent_at(self) -> datetime:
        """The earliest time a restore from this backup can stop at."""
        return self.stopped_at + _TIMESTAMP_SLACK


@dataclass(frozen=True)
class StanzaInfo:
    """``pgbackrest info`` for one stanza: its backups, oldest first, and the archived WAL range."""

    name: str
    status: str
    backups: tuple[BaseBackup, ...]
    wal_min: str | None
    wal_max: str | None


@dataclass(frozen=True)
class RestoredCluster:
    """A scratch PostgreSQL recovered to ``target_time`` and promoted; reachable on its Unix socket only."""

    data_dir: Path
    port: int
    url: str
    target_time: datetime
    backup_label: str
    log_file: Path
    pg_bin_dir: Path


def _ini(sections: Mapping[str, Mapping[str, str]], header: str) -> str:
    lines = [header]
    for section, options in sections.items():
        lines += ["", f"[{section}]", *(f"{key}={value}" for key, value in options.items())]
    return "\n".join(lines) + "\n"


def _repo_options(index: int, repo: WalRepository) -> dict[str, str]:
    key = f"repo{index}"
    options = {
        f"{key}-path": repo.path,
        f"{key}-retention-full-type": "time",
        f"{key}-retention-full": str(repo.retention_days),
    }
    if repo.cipher_pass is not None:
        options[f"{key}-cipher-type"] = "aes-256-cbc"
    if repo.s3 is not None:
        endpoint = urlsplit(repo.s3.endpoint if "//" in repo.s3.endpoint else f"https://{repo.s3.endpoint}")
        if endpoint.scheme != "https" or not endpoint.hostname:
            raise ValueError(f"{key}: pgBackRest reaches S3 over HTTPS only, not {repo.s3.endpoint!r}")
        options |= {
            f"{key}-type": "s3",
            f"{key}-s3-bucket": repo.s3.bucket,
            f"{key}-s3-endpoint": endpoint.hostname,
            f"{key}-s3-region": repo.s3.region or "us-east-1",
            f"{key}-s3-uri-style": "host" if endpoint.hostname.endswith("amazonaws.com") else "path",
        }
        if endpoint.port is not None:
            options[f"{key}-storage-port"] = str(endpoint.port)
    return options


def _repo_secrets(index: int, repo: WalRepository) -> dict[str, str]:
    named = {"cipher-pass": repo.cipher_pass, "s3-key": repo.s3_key, "s3-key-secret": repo.s3_key_secret}
    return {f"repo{index}-{name}": value.get_secret_value() for name, value in named.items() if value}


def _stanza_options(stanza: StanzaSetup) -> dict[str, str]:
    options = {
        "pg1-path": str(stanza.pg_data_dir),
        "pg1-port": str(stanza.pg_port),
        "pg1-socket-path": str(stanza.pg_socket_dir),
        "pg1-user": stanza.pg_user,
    }
    for index, repo in enumerate(stanza.repositories, start=1):
        options |= _repo_options(index, repo)
    return options


def render_config(*, host: Host, stanzas: Sequence[StanzaSetup]) -> str:
    """Given the host and its stanzas, return ``pgbackrest.conf`` — safe to show: it holds no secret."""
    global_options = {"start-fast": "y" if host.start_fast else "n", "archive-async": "n"}
    if host.log_path is not None:
        global_options["log-path"] = str(host.log_path)
    if host.lock_path is not None:
        global_options["lock-path"] = str(host.lock_path)
    sections: dict[str, Mapping[str, str]] = {"global": global_options}
    sections |= {stanza.name: _stanza_options(stanza) for stanza in stanzas}
    header = f"# pgBackRest configuration rendered by Siaga; secrets are in {SECRETS_FILE} (mode 0600)."
    return _ini(sections, header)


def _render_secrets(stanzas: Sequence[StanzaSetup]) -> str:
    sections = {
        stanza.name: {
            key: value
            for index, repo in enumerate(stanza.repositories, start=1)
            for key, value in _repo_secrets(index, repo).items()
        }
        for stanza in stanzas
    }
    return _ini(sections, "# Repository secrets for pgBackRest, written by Siaga. Keep this file 0600.")


def _pgbackrest_argv(host: Host, stanza: str) -> list[str]:
    argv = ["pgbackrest", f"--stanza={stanza}"]
    if host.config_path != DEFAULT_CONFIG_PATH:
        argv.insert(1, f"--config-path={host.config_path}")
    return argv


def postgresql_settings(*, host: Host, stanza: StanzaSetup) -> dict[str, str]:
    """Given a stanza, return the ``postgresql.conf`` settings that archive its WAL (``archive_mode`` needs
    a restart; the others a reload)."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": shlex.join([*_pgbackrest_argv(host, stanza.name), "archive-push"]) + " %p",
        "archive_timeout": f"{int(stanza.archive_timeout.total_seconds())}s",
    }


def render_postgresql_conf(settings: Mapping[str, str]) -> str:
    """Given settings, return them as ``postgresql.conf`` lines."""
    return "".join(f"{name} = {_quoted(value)}\n" for name, value in settings.items())


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _give_to(path: Path, owner: str | None) -> None:
    if owner is not None and os.geteuid() == 0:
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)


def _make_private_dir(path: Path, owner: str | None) -> None:
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            directory.mkdir(mode=0o700)
            _give_to(directory, owner)


def _write_private(path: Path, text: str, owner: str | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    _give_to(path, owner)


def write_config(*, host: Host, stanzas: Sequence[StanzaSetup]) -> tuple[Path, Path]:
    """Write ``pgbackrest.conf`` and the secrets include under ``host.config_path``, both 0600 and owned by
    ``host.os_user``; return their paths."""
    config, secrets = host.config_path / "pgbackrest.conf", host.config_path / SECRETS_FILE
    _make_private_dir(secrets.parent, host.os_user)
    _write_private(config, render_config(host=host, stanzas=stanzas), host.os_user)
    _write_private(secrets, _render_secrets(stanzas), host.os_user)
    return config, secrets


def select_base_backup(backups: Sequence[BaseBackup], target_time: datetime, *, stanza: str) -> BaseBackup:
    """Given the backups held, return the newest one a restore to ``target_time`` can start from; raise
    RestoreTargetError when the target is not an aware time or precedes the end of every backup."""
    if target_time.tzinfo is None:
        raise RestoreTargetError(f"restore target {target_time.isoformat()} needs a time zone")
    usable = [backup for backup in backups if backup.consistent_at <= target_time]
    if usable:
        return max(usable, key=lambda backup: backup.stopped_at)
    if not backups:
        raise RestoreTargetError(f"stanza {stanza} has no base backup to restore from")
    earliest = min(backups, key=lambda backup: backup.stopped_at)
    raise RestoreTargetError(
        f"cannot restore stanza {stanza} to {target_time.astimezone(UTC).isoformat()}: it is before the end "
        f"of the earliest base backup ({earliest.label}, consistent from "
        f"{earliest.consistent_at.isoformat()}); choose a later time"
    )


def _epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def _parse_info(document: Any, stanza: str) -> StanzaInfo:
    entry = next((item for item in document if item.get("name") == stanza), None)
    if entry is None:
        raise PgBackRestError(f"pgbackrest info has no stanza {stanza}")
    versions = {(db["id"], db.get("repo-key", 1)): str(db["version"]) for db in entry.get("db", [])}
    backups = tuple(
        BaseBackup(
            label=item["label"],
            type=item["type"],
            repo=int(item["database"].get("repo-key", 1)),
            pg_version=versions.get((item["database"]["id"], item["database"].get("repo-key", 1)), ""),
            started_at=_epoch(item["timestamp"]["start"]),
            stopped_at=_epoch(item["timestamp"]["stop"]),
            wal_start=item["archive"]["start"],
            wal_stop=item["archive"]["stop"],
        )
        for item in entry.get("backup", [])
        if not item.get("error", False)
    )
    archives = [item for item in entry.get("archive", []) if item.get("min")]
    return StanzaInfo(
        name=stanza,
        status=str(entry.get("status", {}).get("message", "")),
        backups=tuple(sorted(backups, key=lambda backup: backup.stopped_at)),
        wal_min=min((item["min"] for item in archives), default=None),
        wal_max=max((item["max"] for item in archives), default=None),
    )


class PgBackRest:
    """pgBackRest operations on one stanza: create it, take base backups, read its info, restore to a time."""

    def __init__(self, *, host: Host, stanza: StanzaSetup) -> None:
        self._host = host
        self._stanza = stanza
        self._secrets = {
            f"PGBACKREST_{key.upper().replace('-', '_')}": value
            for index, repo in enumerate(stanza.repositories, start=1)
            for key, value in _repo_secrets(index, repo).items()
        }

    def _scrub(self, text: str) -> str:
        for secret in self._secrets.values():
            text = text.replace(secret, "********")
        return text

    def _as_owner(self, argv: list[str]) -> list[str]:
        user = self._host.os_user
        if user is None or pwd.getpwuid(os.geteuid()).pw_name == user:
            return argv
        return ["runuser", "-u", user, "--", *argv]

    def _exec(self, argv: list[str], *, timeout: float | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (argv built here; secrets only in the environment)
            self._as_owner(argv),
            env={**os.environ, **self._secrets},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _pgbackrest(self, command: str, *options: str, timeout: float | None = None) -> str:
        argv = ["pgbackrest", f"--config-path={self._host.config_path}", f"--stanza={self._stanza.name}"]
        result = self._exec([*argv, *options, command], timeout=timeout)
        if result.returncode != 0:
            output = self._scrub((result.stderr or result.stdout).strip())
            raise PgBackRestError(
                f"pgbackrest {command} failed for stanza {self._stanza.name} (exit {result.returncode}): "
                f"{output}"
            )
        return result.stdout

    def stanza_create(self, *, timeout: float | None = 120) -> None:
        """Create the stanza in every repository (idempotent); raise PgBackRestError."""
        self._pgbackrest("stanza-create", timeout=timeout)

    def check(self, *, timeout: float | None = 120) -> None:
        """Check that archiving reaches the repositories (switches a WAL segment); raise PgBackRestError."""
        self._pgbackrest("check", timeout=timeout)

    def base_backup(
        self, *, type: Literal["full", "diff", "incr"] = "full", repo: int = 1, timeout: float | None = None
    ) -> BaseBackup:
        """Take a base backup into repository ``repo``; return it. Raise PgBackRestError."""
        self._pgbackrest("backup", f"--type={type}", f"--repo={repo}", timeout=timeout)
        mine = [backup for backup in self.info().backups if backup.repo == repo]
        return max(mine, key=lambda backup: (backup.stopped_at, backup.label))

    def info(self, *, timeout: float | None = 60) -> StanzaInfo:
        """Return the stanza's backups (start and stop times, WAL range) and its archived WAL range."""
        return _parse_info(
            json.loads(self._pgbackrest("info", "--output=json", timeout=timeout)), self._stanza.name
        )

    def restore_to_time(
        self, *, target_time: datetime, scratch_data_dir: Path, port: int, timeout: float = 600
    ) -> RestoredCluster:
        """Restore the newest usable base backup into the new directory ``scratch_data_dir`` and start a
        scratch PostgreSQL on ``port`` that replays WAL up to ``target_time`` and promotes; return it once
        recovery has finished, within ``timeout`` seconds in all. Raise RestoreTargetError, PgBackRestError
        or ScratchClusterError; a failed restore leaves no process and no directory behind."""
        deadline = time.monotonic() + timeout
        backup = select_base_backup(self.info().backups, target_time, stanza=self._stanza.name)
        if scratch_data_dir.exists() and any(scratch_data_dir.iterdir()):
            raise PitrError(f"scratch data directory {scratch_data_dir} is not empty; give a new one")
        cluster = RestoredCluster(
            data_dir=scratch_data_dir,
            port=port,
            url=f"postgresql://{self._stanza.pg_user}@/postgres?host={quote(str(scratch_data_dir), safe='')}"
            f"&port={port}",
            target_time=target_time,
            backup_label=backup.label,
            log_file=scratch_data_dir / "siaga-scratch.log",
            pg_bin_dir=self._host.pg_bin_dir or Path(f"/usr/lib/postgresql/{backup.pg_version}/bin"),
        )
        _make_private_dir(scratch_data_dir, self._host.os_user)
        try:
            self._pgbackrest(
                "restore",
                f"--pg1-path={scratch_data_dir}",
                f"--repo={backup.repo}",
                f"--set={backup.label}",
                "--type=time",
                f"--target={target_time.astimezone(UTC).isoformat(sep=' ')}",
                "--target-action=promote",
                "--archive-mode=off",  # a drill's promoted copy must never push WAL into the production repo
                f"--tablespace-map-all={_tablespaces_dir(scratch_data_dir)}",
                timeout=max(1.0, deadline - time.monotonic()),
            )
            self._start_scratch(cluster, deadline=deadline)
        except BaseException:
            self.stop_scratch(cluster)
            raise
        return cluster

    def _start_scratch(self, cluster: RestoredCluster, *, deadline: float) -> None:
        data, owner = cluster.data_dir, self._host.os_user
        _write_private(data / "siaga-scratch-hba.conf", "local all all trust\n", owner)  # socket dir: 0700
        _write_private(data / "siaga-scratch-ident.conf", "", owner)
        if not (data / "postgresql.conf").exists():  # Debian keeps it in /etc, outside the backup
            _write_private(data / "postgresql.conf", "", owner)
        # Whatever the restored postgresql.conf says, the copy stays inside its directory and off the network.
        overrides = {
            "data_directory": str(data),
            "port": str(cluster.port),
            "listen_addresses": "",
            "unix_socket_directories": str(data),
            "hba_file": str(data / "siaga-scratch-hba.conf"),
            "ident_file": str(data / "siaga-scratch-ident.conf"),
            "external_pid_file": str(data / "siaga-scratch.pid"),
            "archive_mode": "off",
            "logging_collector": "off",
            "ssl": "off",
            "synchronous_standby_names": "",
            "cluster_name": "siaga-scratch",
        }
        options = shlex.join(part for name, value in overrides.items() for part in ("-c", f"{name}={value}"))
        wait = max(1, int(deadline - time.monotonic()))
        start = ["start", "-D", str(data), "-l", str(cluster.log_file), "-w", "-t", str(wait), "-o", options]
        started = self._pg(cluster, "pg_ctl", *start, timeout=wait + 10).returncode == 0
        while started and not self._promoted(cluster):
            if self._pg(cluster, "pg_ctl", "status", "-D", str(data)).returncode != 0:
                started = False
            elif time.monotonic() > deadline:
                raise ScratchClusterError(f"recovery to {cluster.target_time.isoformat()} ran out of time")
            time.sleep(0.2)
        if not started:
            raise ScratchClusterError(self._failure(cluster))

    def _promoted(self, cluster: RestoredCluster) -> bool:
        control = self._pg(cluster, "pg_controldata", "-D", str(cluster.data_dir)).stdout
        if not re.search(r"^Database cluster state:\s+in production$", control, re.MULTILINE):
            return False
        ready = ["-q", "-h", str(cluster.data_dir), "-p", str(cluster.port)]
        return self._pg(cluster, "pg_isready", *ready).returncode == 0

    def _pg(
        self, cluster: RestoredCluster, program: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self._exec([str(cluster.pg_bin_dir / program), *args], timeout=timeout)

    def _failure(self, cluster: RestoredCluster, lines: int = 12) -> str:
        try:
            log = cluster.log_file.read_text(errors="replace").splitlines()
        except OSError as exc:
            log = [f"(no log: {exc.strerror})"]
        reasons = [line.split("FATAL:", 1)[1].strip() for line in log if "FATAL:" in line]
        reason = "; ".join(reasons) or "it exited"
        tail = "\n".join(log[-lines:])
        return self._scrub(
            f"the scratch PostgreSQL stopped before recovering stanza {self._stanza.name} to "
            f"{cluster.target_time.isoformat()}: {reason}\n{tail}"
        )

    def stop_scratch(self, cluster: RestoredCluster, *, remove: bool = True) -> None:
        """Stop the scratch PostgreSQL (immediate: it is a throwaway copy) and, with ``remove``, delete its
        data directory and tablespaces — a copy of production data should not outlive the drill."""
        data = str(cluster.data_dir)
        # Not running (it failed to start, or was stopped before) is fine: pg_ctl then only says so.
        self._pg(cluster, "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w")
        if remove:
            self._exec(["rm", "-rf", "--", data, str(_tablespaces_dir(cluster.data_dir))], timeout=300)


def _tablespaces_dir(scratch_data_dir: Path) -> Path:
    return scratch_data_dir.with_name(scratch_data_dir.name + "-tablespaces")
