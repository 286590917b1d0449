"""``siaga import prometheus-rules|alertmanager``: existing Prometheus rule files and Alertmanager configs as spec."""

from __future__ import annotations

import typer

import_app = typer.Typer(no_args_is_help=True, help="Turn existing Prometheus / Alertmanager files into spec.")
