"""``siaga render``: the spec as Prometheus, Alertmanager, blackbox_exporter and Grafana files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siaga.cli import ConfigOpt, settings


def render(
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the files into.")] = Path(
        "rendered"
    ),
) -> None:
    """Write prometheus.yml, rules/*.yml, alertmanager.yml, blackbox.yml and grafana/*.json for the spec
    (same spec, byte-identical files)."""
    from siaga.render.files import render_directory

    rendered = render_directory(settings(config).config_path, out)
    for note in rendered.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{len(rendered.files)} files written to {out}")
