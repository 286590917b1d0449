"""``siaga stack up|down|status``: run Prometheus, Alertmanager and exporters on the rendered configs."""

from __future__ import annotations

import typer

stack_app = typer.Typer(no_args_is_help=True, help="Run and supervise the Prometheus stack on one box.")
