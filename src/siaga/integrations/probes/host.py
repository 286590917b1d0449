"""Host checks: CPU, memory, disks and load of the machine Siaga runs on, every number a double.

``cpu.percent`` is the CPU use since the previous host probe (psutil's non-blocking form), so the first
reading is primed when the prober is made. The psutil calls run inline on the event loop: together they
take about 80 µs (measured: cpu_percent + virtual_memory + one disk_usage + getloadavg, Linux), far less
than handing them to a thread would.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
from pydantic import BaseModel

from siaga.integrations.probes.base import ProbeResult
from siaga.spec.checks import HostProbe


class HostProber:
    """Probes ``host`` checks on this machine."""

    def __init__(self) -> None:
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement (and says 0.0)

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Read the machine's figures; fails only when a mount point in ``settings.disks`` cannot be read."""
        if not isinstance(settings, HostProbe):
            raise TypeError(f"HostProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        disks: dict[str, dict[str, float]] = {}
        for mount in settings.disks:
            try:
                usage = psutil.disk_usage(mount)
            except OSError as exc:
                error = f"disk {mount}: {exc.strerror or type(exc).__name__}"
                return ProbeResult(False, time.perf_counter() - started, error)
            disks[mount] = {
                "percent": float(usage.percent),
                "free_bytes": float(usage.free),
                "total_bytes": float(usage.total),
            }
        memory = psutil.virtual_memory()
        load1, load5, load15 = os.getloadavg()
        variables: dict[str, Any] = {
            "cpu": {"percent": float(psutil.cpu_percent(interval=None))},
            "memory": {
                "percent": float(memory.percent),
                "available_bytes": float(memory.available),
                "total_bytes": float(memory.total),
            },
            "disk": disks,
            "load": {"load1": float(load1), "load5": float(load5), "load15": float(load15)},
        }
        return ProbeResult(True, time.perf_counter() - started, None, variables)

    async def close(self) -> None:
        return None
