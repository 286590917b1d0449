"""Backup benchmark: Siaga's streamed, validated, encrypted PostgreSQL backup against a raw ``pg_dump -Fc``
to a local file, then a restore through validation.

    .venv/bin/python bench/backup.py [--scale 68] [--repeat 2] [--reuse] [--keep] [--json]

1. A database ``siaga_bench_backup`` filled by ``pgbench -i -s N`` (~1 GB at the default), VACUUM ANALYZE,
   CHECKPOINT (``--reuse`` keeps one left by an earlier ``--keep`` run).
2. ``--repeat`` rounds, each the peer then Siaga: ``pg_dump -Fc -f FILE`` into the bench's temp dir, and
   ``back_up`` into a fresh restic repository in the same temp dir (same disk): ``pg_dump --compress=1`` in
   an exported snapshot, teed into restic, ``pg_restore --list`` and the archive reader (row counts and
   checksums), then the manifest. Best and median of each side.
3. The last Siaga snapshot restored into ``siaga_bench_restore`` (dropped first) and validated against its
   manifest, timed end to end.

While each side runs a thread samples, every 50 ms, this process and its children (``psutil``): RSS, peak RSS
(VmHWM) and CPU per process, this process's own peak from its VmHWM (reset first); the temp disk Siaga uses —
the ``scratch`` directory, the temp dir (TMPDIR points into the bench's directory for the run, so restic's
and the tools' temp files land there) and files its processes hold open after unlinking them (restic's temp
packs) — and, once a second, growth of the system temp dir outside the bench's directory (other processes
share it). The repository and restic's cache are not temp disk: they are reported as repository size.

Goals (backups issue), ~1 GB database: backup ÷ pg_dump ≤ 1.15x, restore through validation ≤ 300 s,
memory ≤ 256 MB (this Python process, which runs the pump; its children are listed apart), temp disk ≤ 64 MB.
MB here is 10^6 bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from _harness import PG_ADMIN_URL, install_sigterm_cleanup, table
from psycopg import sql

from siaga.integrations.backup_engines import back_up, restore
from siaga.integrations.restic import RepoLocation, Restic
from siaga.spec.backups import Source

SOURCE_DB = "siaga_bench_backup"
RESTORE_DB = "siaga_bench_restore"
INTERVAL = 0.05
GOALS = {"ratio": 1.15, "restore_s": 300.0, "memory_mb": 256.0, "temp_mb": 64.0}
MB = 1e6
TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def db_url(name: str) -> str:
    return urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path="/" + name))


def tool_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for libpq tools, the password in PGPASSWORD rather than on the command line."""
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or ""]
    return args, {**os.environ, "PGPASSWORD": parts.password or ""}


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def prepare(scale: int, reuse: bool) -> dict[str, Any]:
    """The source database, created with pgbench unless ``reuse`` finds one; its size and row count."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SOURCE_DB,)).fetchone()
    if not (reuse and exists):
        drop_database(SOURCE_DB)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SOURCE_DB)))
        log(f"pgbench -i -s {scale} into {SOURCE_DB}")
        args, env = tool_args(PG_ADMIN_URL)
        pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
        done = subprocess.run(
            [pgbench, "-i", "-q", "-s", str(scale), *args, SOURCE_DB], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"pgbench -i failed: {done.stderr.strip()}")
    with psycopg.connect(db_url(SOURCE_DB), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
        rows = conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()  # also warms the cache
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert rows is not None
    assert size is not None
    return {"name": SOURCE_DB, "reused": bool(reuse and exists), "size": int(size[0]), "rows": int(rows[0])}


def disk_usage(path: Path, skip: tuple[Path, ...] = ()) -> int:
    """Bytes allocated under ``path`` (not following links), leaving out the ``skip`` subtrees."""
    total = 0
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    if Path(entry.path) not in skip:
                        total += disk_usage(Path(entry.path), skip)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


def process_label(cmdline: list[str]) -> str:
    name = Path(cmdline[0]).name if cmdline else "?"
    if name.startswith("perl") and len(cmdline) > 1:  # Debian's pg_wrapper, before it execs the tool
        return process_label(cmdline[1:])
    if name == "restic":
        command = next((a for a in cmdline[1:] if a in {"backup", "dump", "snapshots", "forget"}), "")
        role = " (manifest)" if any(a.endswith("manifest.json") for a in cmdline) else ""
        return f"restic {command}{role}".rstrip()
    if name == "pg_restore" and "--list" in cmdline:
        return "pg_restore --list"
    return name


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL server process (backends included), by pid."""
    found = {}
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if Path(entry.path, "comm").read_text().strip() == "postgres":
                    fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                    found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def _machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICKS


class Sampler(threading.Thread):
    """Memory, CPU and temp disk of this process and its children, sampled while the ``with`` block runs."""

    def __init__(self, temp_dirs: tuple[Path, ...], bench_root: Path) -> None:
        super().__init__(daemon=True, name="bench-sampler")
        self.temp_dirs, self.bench_root = temp_dirs, bench_root
        self.me = psutil.Process()
        self.own_cmdline = self.me.cmdline()
        self.hwm_reset = True
        try:  # "5" resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak is this phase's own
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.hwm_reset = False
        self.start_rss = self.me.memory_info().rss
        self.start_cpu = sum(self.me.cpu_times()[:2])
        self.system_tmp = Path(tempfile.gettempdir())
        self.tmp_base = disk_usage(self.system_tmp, (bench_root,))
        self.peaks: dict[str, float] = {"self_rss": self.start_rss, "tree_rss": 0, "temp": 0}
        self.peaks |= {"unlinked": 0, "system_tmp_growth": 0}
        self.children: dict[str, int] = {}  # label -> peak RSS (VmHWM) of any process so labelled
        self._cpu: dict[int, tuple[str, float]] = {}
        self._postgres_base = _postgres_cpu()
        self._busy_base, self._began = _machine_busy_seconds(), time.monotonic()
        self._postgres: dict[int, float] = dict(self._postgres_base)
        self._done = threading.Event()
        self.samples = 0

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        while True:
            self.sample()
            if self._done.wait(INTERVAL):
                self.sample()
                return

    def sample(self) -> None:
        self.samples += 1
        processes = [self.me]
        tree_rss = self.me.memory_info().rss
        self.peaks["self_rss"] = max(self.peaks["self_rss"], tree_rss)
        for child in self.me.children(recursive=True):
            with contextlib.suppress(psutil.Error, OSError):
                cmdline = child.cmdline()
                if not cmdline or cmdline == self.own_cmdline:  # a zombie, or forked and not yet exec'd
                    continue
                label = process_label(cmdline)
                rss, hwm, cpu = child.memory_info().rss, vm_hwm(child.pid), sum(child.cpu_times()[:2])
                tree_rss += rss
                self.children[label] = max(self.children.get(label, 0), hwm, rss)
                self._cpu[child.pid] = (label, cpu)
                processes.append(child)
        self.peaks["tree_rss"] = max(self.peaks["tree_rss"], tree_rss)
        unlinked = self._unlinked(processes)
        temp = sum(disk_usage(path) for path in self.temp_dirs) + unlinked
        self.peaks["unlinked"] = max(self.peaks["unlinked"], unlinked)
        self.peaks["temp"] = max(self.peaks["temp"], temp)
        if self.samples % 5 == 1:
            self._postgres.update(_postgres_cpu())
        if self.samples % 20 == 1:  # walking the shared /tmp costs ~50 ms: once a second
            growth = disk_usage(self.system_tmp, (self.bench_root,)) - self.tmp_base
            self.peaks["system_tmp_growth"] = max(self.peaks["system_tmp_growth"], growth)

    def _unlinked(self, processes: list[psutil.Process]) -> int:
        """Bytes of regular files these processes hold open after unlinking them (restic's temp packs)."""
        seen: dict[tuple[int, int], int] = {}
        for process in processes:
            fd_dir = f"/proc/{process.pid}/fd"
            with contextlib.suppress(OSError):
                for fd in os.listdir(fd_dir):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"{fd_dir}/{fd}")
                        if not target.endswith(" (deleted)") or target.startswith(("/memfd:", "/dev/")):
                            continue
                        info = os.stat(f"{fd_dir}/{fd}")
                        if stat.S_ISREG(info.st_mode):
                            seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
        return sum(seen.values())

    def result(self) -> dict[str, Any]:
        self_peak = vm_hwm(self.me.pid) if self.hwm_reset else self.peaks["self_rss"]
        cpu: dict[str, float] = {}
        for label, seconds in self._cpu.values():
            cpu[label] = cpu.get(label, 0.0) + seconds
        self_cpu = sum(self.me.cpu_times()[:2]) - self.start_cpu
        postgres_cpu = sum(s - self._postgres_base.get(pid, 0.0) for pid, s in self._postgres.items())
        busy = _machine_busy_seconds() - self._busy_base
        others = busy - self_cpu - sum(cpu.values()) - postgres_cpu
        return {
            "self_start_mb": self.start_rss / MB,
            "self_peak_mb": max(self_peak, self.peaks["self_rss"]) / MB,
            "self_cpu_s": self_cpu,
            "other_cores": max(0.0, others) / max(time.monotonic() - self._began, 1e-9),
            "tree_peak_mb": self.peaks["tree_rss"] / MB,
            "children": {
                label: {"peak_mb": peak / MB, "cpu_s": round(cpu.get(label, 0.0), 2)}
                for label, peak in sorted(self.children.items())
            },
            "postgres_cpu_s": round(postgres_cpu, 2),
            "temp_peak_mb": self.peaks["temp"] / MB,
            "unlinked_peak_mb": self.peaks["unlinked"] / MB,
            "system_tmp_growth_mb": max(0.0, self.peaks["system_tmp_growth"]) / MB,
        }


@contextlib.contextmanager
def temp_dir(path: Path) -> Iterator[None]:
    """TMPDIR (and Python's tempfile) pointed at ``path``; children started meanwhile inherit it."""
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(path), str(path)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


def peer_dump(root: Path, index: int) -> dict[str, Any]:
    """``pg_dump -Fc`` of the source into a local file (pg_dump fsyncs it, as restic does its packs)."""
    path = root / f"peer-{index}.pgdump"
    args, env = tool_args(PG_ADMIN_URL)
    with Sampler((), root) as sampler:
        started = time.perf_counter()
        subprocess.run(["pg_dump", "-Fc", "-f", str(path), *args, SOURCE_DB], env=env, check=True)
        elapsed = time.perf_counter() - started
    size = path.stat().st_size
    path.unlink()
    return {"seconds": elapsed, "bytes": size, "resources": sampler.result()}


def siaga_backup(root: Path, index: int) -> tuple[dict[str, Any], Restic, str]:
    """One ``back_up`` into a fresh local repository; its figures, the repository and the snapshot id."""
    run_dir = root / f"siaga-{index}"
    repo, cache, scratch, tmp = (run_dir / name for name in ("repo", "cache", "scratch", "tmp"))
    for path in (cache, scratch, tmp):
        path.mkdir(parents=True)
    restic = Restic(RepoLocation(url=str(repo), password=secrets.token_urlsafe(24)), cache_dir=cache)
    restic.init()
    source = Source.model_validate({"postgres": db_url(SOURCE_DB)})
    with temp_dir(tmp), Sampler((scratch, tmp), root) as sampler:
        started = time.perf_counter()
        outcome = back_up(source, [restic], ["bench"], host="bench", scratch=scratch)
        elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"Siaga's backup failed: {outcome.kind}: {outcome.reason}")
    figures = {
        "seconds": elapsed,
        "bytes": outcome.bytes,
        "durations": dict(outcome.durations),
        "repository_bytes": disk_usage(repo),
        "cache_bytes": disk_usage(cache),
        "resources": sampler.result(),
    }
    return figures, restic, outcome.snapshots[restic.label]


def restore_run(root: Path, restic: Restic, snapshot_id: str) -> dict[str, Any]:
    drop_database(RESTORE_DB)
    tmp = root / "restore-tmp"
    tmp.mkdir()
    with temp_dir(tmp), Sampler((tmp,), root) as sampler:
        started = time.perf_counter()
        outcome = restore(restic, snapshot_id, db_url(RESTORE_DB))
        elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"the restore failed: {outcome.kind}: {outcome.reason}")
    durations = {name: round(value, 3) for name, value in outcome.durations.items()}
    return {"seconds": elapsed, "bytes": outcome.bytes, "durations": durations, "resources": sampler.result()}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    peer, ours = results["peer"], results["siaga"]
    peer_s, ours_s = [r["seconds"] for r in peer], [r["seconds"] for r in ours]
    worst = max(ours, key=lambda r: r["resources"]["self_peak_mb"])["resources"]
    hungriest = max(ours, key=lambda r: r["resources"]["temp_peak_mb"])["resources"]
    summary = {
        "peer_best_s": min(peer_s),
        "peer_median_s": statistics.median(peer_s),
        "siaga_best_s": min(ours_s),
        "siaga_median_s": statistics.median(ours_s),
        "ratio_best": min(ours_s) / min(peer_s),
        "ratio_median": statistics.median(ours_s) / statistics.median(peer_s),
        "restore_s": results["restore"]["seconds"],
        "memory_mb": worst["self_peak_mb"],
        "temp_mb": hungriest["temp_peak_mb"],
    }
    summary["verdicts"] = {
        "ratio": summary["ratio_median"] <= GOALS["ratio"],
        "restore_s": summary["restore_s"] <= GOALS["restore_s"],
        "memory_mb": summary["memory_mb"] <= GOALS["memory_mb"],
        "temp_mb": summary["temp_mb"] <= GOALS["temp_mb"],
    }
    return summary


def _processes(resources: dict[str, Any]) -> str:
    children = resources["children"].items()
    shown = [f"{label} {c['peak_mb']:.0f} MB / {c['cpu_s']:.1f} CPU-s" for label, c in children]
    shown.append(f"PostgreSQL server {resources['postgres_cpu_s']:.1f} CPU-s")
    return "; ".join([*shown, f"other work on the machine {resources['other_cores']:.2f} cores"])


def report(results: dict[str, Any]) -> str:
    s, db, rest = results["summary"], results["database"], results["restore"]
    peer, ours = results["peer"], results["siaga"]
    verdict = {key: "PASS" if ok else "MISS" for key, ok in s["verdicts"].items()}
    last = ours[-1]
    memory = max((r["resources"] for r in ours), key=lambda r: r["self_peak_mb"])
    temp = max((r["resources"] for r in ours), key=lambda r: r["temp_peak_mb"])
    restore_phases = ", ".join(f"{k} {v:.1f}" for k, v in rest["durations"].items())
    rows = [
        [
            "backup ÷ pg_dump -Fc: median (best)",
            f"≤ {GOALS['ratio']}x",
            f"{s['ratio_median']:.2f}x ({s['ratio_best']:.2f}x)",
            verdict["ratio"],
        ],
        [
            "restore through validation",
            f"≤ {GOALS['restore_s']:.0f} s",
            f"{s['restore_s']:.1f} s ({restore_phases} s)",
            verdict["restore_s"],
        ],
        [
            "peak memory: Siaga's process (runs the pump)",
            f"≤ {GOALS['memory_mb']:.0f} MB",
            f"{s['memory_mb']:.0f} MB (before the backup {memory['self_start_mb']:.0f} MB)",
            verdict["memory_mb"],
        ],
        [
            "peak temp disk: scratch + TMPDIR + unlinked open files",
            f"≤ {GOALS['temp_mb']:.0f} MB",
            f"{s['temp_mb']:.1f} MB (unlinked {temp['unlinked_peak_mb']:.1f} MB)",
            verdict["temp_mb"],
        ],
    ]
    runs = " / ".join(f"{r['seconds']:.1f}" for r in peer), " / ".join(f"{r['seconds']:.1f}" for r in ours)
    lines = [
        f"## Backups: pgbench -s {results['scale']}, {db['size'] / MB:,.0f} MB database "
        f"({db['rows']:,} accounts), {results['repeat']} rounds, {os.cpu_count()} cores",
        "",
        f"pg_dump -Fc to a file   best {s['peer_best_s']:.1f} s, median {s['peer_median_s']:.1f} s "
        f"(runs {runs[0]}); file {peer[-1]['bytes'] / MB:.1f} MB",
        f"Siaga back_up           best {s['siaga_best_s']:.1f} s, median {s['siaga_median_s']:.1f} s "
        f"(runs {runs[1]}); last: " + ", ".join(f"{k} {v:.1f} s" for k, v in last["durations"].items()),
        f"{'':24}dump {last['bytes'] / MB:.1f} MB; repository {last['repository_bytes'] / MB:.1f} MB"
        f" (restic cache {last['cache_bytes'] / MB:.1f} MB)",
        "",
        table(["measure", "goal", "figure", ""], rows),
        "",
        f"Siaga's backup, {memory['self_cpu_s']:.1f} CPU-s in Siaga's process; children (peak RSS / CPU): "
        + _processes(memory),
        f"  the whole process tree at once: {memory['tree_peak_mb']:.0f} MB; the system /tmp outside the "
        f"bench grew {temp['system_tmp_growth_mb']:.1f} MB meanwhile",
        "peer's pg_dump: " + _processes(peer[-1]["resources"]),
        f"restore: Siaga's process {rest['resources']['self_peak_mb']:.0f} MB (tree at once "
        f"{rest['resources']['tree_peak_mb']:.0f} MB); "
        + _processes(rest["resources"])
        + f"; temp disk {rest['resources']['temp_peak_mb']:.1f} MB",
        "",
        f"Siaga {s['siaga_median_s']:.1f} s vs pg_dump -Fc {s['peer_median_s']:.1f} s (median): "
        f"{s['ratio_median']:.2f}x (goal ≤ {GOALS['ratio']}x)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    install_sigterm_cleanup()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=68, help="pgbench scale (68 ≈ 1 GB)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of peer then Siaga")
    parser.add_argument("--reuse", action="store_true", help=f"keep an existing {SOURCE_DB}")
    parser.add_argument("--keep", action="store_true", help="leave both databases behind")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="siaga-bench-backup-"))
    results: dict[str, Any] = {"scale": args.scale, "repeat": args.repeat, "peer": [], "siaga": []}
    try:
        results["database"] = database = prepare(args.scale, args.reuse)
        log(f"{SOURCE_DB}: {database['size'] / MB:,.0f} MB, {database['rows']:,} accounts")
        restic, snapshot = None, ""
        for index in range(args.repeat):
            log(f"round {index + 1}: pg_dump -Fc")
            results["peer"].append(peer_dump(root, index))
            log(f"round {index + 1}: pg_dump took {results['peer'][-1]['seconds']:.1f} s; Siaga's backup")
            if restic is not None:  # a fresh repository every round: no deduplication against the last
                shutil.rmtree(Path(restic.repository.url).parent)
            figures, restic, snapshot = siaga_backup(root, index)
            results["siaga"].append(figures)
            log(f"round {index + 1}: Siaga took {figures['seconds']:.1f} s {figures['durations']}")
        assert restic is not None, "--repeat must be at least 1"
        log(f"restore of {snapshot[:8]} into {RESTORE_DB} through validation")
        results["restore"] = restore_run(root, restic, snapshot)
        log(f"restore took {results['restore']['seconds']:.1f} s {results['restore']['durations']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if not args.keep:
            for name in (RESTORE_DB, SOURCE_DB):
                with contextlib.suppress(psycopg.Error):
                    drop_database(name)
    results["summary"] = summarize(results)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
