"""Every rendered file of a spec, by path, and writing them to a directory.

Same spec, same bytes: nothing here reads the clock, the environment or the file system, and paths inside
the files are relative to the rendered directory (Prometheus and Alertmanager resolve them against their
config file), so the directory can move.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siaga.render import blackbox
from siaga.render.alertmanager import alertmanager_yml
from siaga.render.prometheus import blackbox_checks, prometheus_yml, rule_files
from siaga.render.yaml import dump, header
from siaga.spec import load_spec
from siaga.spec.durations import format_duration
from siaga.spec.models import Spec

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
# ${NAME} with no default (a `${NAME:-x}` keeps its default).
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Directories of ours inside the rendered one: replaced on every render (data/ and logs/ are kept).
_OWNED = ("rules", "grafana")


@dataclass(frozen=True, slots=True)
class Rendered:
    files: dict[str, bytes]
    notes: tuple[str, ...]


def blackbox_yml(spec: Spec) -> str:
    modules = {
        blackbox.module_name(name, check): blackbox.module(check)
        for name, _svc, check in blackbox_checks(spec)
    }
    return header(spec, "blackbox_exporter") + dump(
        {"modules": modules or {"tcp_connect": {"prober": "tcp"}}}
    )


def stack_json(spec: Spec) -> str:
    """How ``siaga stack`` runs each component on these files (argv relative to the directory)."""
    prom = spec.prometheus
    components: list[dict[str, Any]] = [
        {
            "name": "prometheus",
            "argv": [
                PROMETHEUS,
                "--config.file=prometheus.yml",
                "--storage.tsdb.path=data/prometheus",
                f"--web.listen-address={prom.listen}",
                f"--storage.tsdb.retention.time={format_duration(prom.retention)}",
                "--rules.alert.resend-delay=1s"
                if prom.rule_interval.total_seconds() < 60
                else "--rules.alert.resend-delay=1m",
            ],
            "health_url": f"http://{prom.listen}/-/healthy",
        }
    ]
    if prom.alertmanager.enabled:
        components.append(
            {
                "name": "alertmanager",
                "argv": [
                    ALERTMANAGER,
                    "--config.file=alertmanager.yml",
                    "--storage.path=data/alertmanager",
                    f"--web.listen-address={prom.alertmanager.listen}",
                    "--cluster.listen-address=",
                ],
                "health_url": f"http://{prom.alertmanager.listen}/-/healthy",
            }
        )
    if any(True for _ in blackbox_checks(spec)):
        components.append(
            {
                "name": "blackbox",
                "argv": [BLACKBOX, "--config.file=blackbox.yml", f"--web.listen-address={prom.blackbox}"],
                "health_url": f"http://{prom.blackbox}/-/healthy",
            }
        )
    if prom.node_exporter:
        argv = [NODE_EXPORTER, f"--web.listen-address={prom.node_exporter}"]
        if prom.node_exporter_collectors:
            argv.append("--collector.disable-defaults")
            argv += [f"--collector.{name}" for name in prom.node_exporter_collectors]
        if prom.textfile_directory:
            argv.append(f"--collector.textfile.directory={prom.textfile_directory}")
        components.append(
            {"name": "node", "argv": argv, "health_url": f"http://{prom.node_exporter}/metrics"}
        )
    return json.dumps({"components": components}, indent=2) + "\n"


def render(spec: Spec) -> Rendered:
    """All files of the stack for ``spec``, by path relative to the rendered directory."""
    am_text, notes = alertmanager_yml(spec)
    texts: dict[str, str] = {
        "prometheus.yml": prometheus_yml(spec),
        **rule_files(spec),
        "blackbox.yml": blackbox_yml(spec),
        "stack.json": stack_json(spec),
    }
    if spec.prometheus.alertmanager.enabled:
        texts["alertmanager.yml"] = am_text
    files = {path: text.encode() for path, text in texts.items()}
    if spec.prometheus.dashboards:
        from siaga.render.grafana import dashboards

        environments = spec.project.environments
        for name, content in dashboards(spec.project.name, sorted(spec.services), environments).items():
            files[f"grafana/{name}"] = content
    return Rendered(dict(sorted(files.items())), tuple(notes))


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Write the files (atomically each), dropping stale rule files and dashboards of earlier renders."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for owned in _OWNED:
        shutil.rmtree(out_dir / owned, ignore_errors=True)
    written = []
    for path, content in rendered.files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)
        written.append(target)
    return written


def load_for_render(config_path: Path) -> Spec:
    """Load a spec to render it: secrets are never rendered, so an unset ``${VAR}`` without a default gets a
    stand-in value instead of failing the load (rendering on a CI box that holds no credentials)."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return load_spec(config_path)  # reports the read error as a SpecError
    env = dict(os.environ)
    for name in _REFERENCE.findall(text):
        env.setdefault(name, "unset-at-render-time")
    return load_spec(config_path, env=env)


def render_directory(config_path: Path, out_dir: Path) -> Rendered:
    """Load the spec at ``config_path`` and write its stack files under ``out_dir``."""
    rendered = render(load_for_render(config_path))
    write(rendered, out_dir)
    return rendered
