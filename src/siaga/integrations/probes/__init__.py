"""Probes: one module per check kind, one contract (base.Prober), one registry (registry.make_probers)."""

from siaga.integrations.probes.base import Prober, ProbeResult
from siaga.integrations.probes.registry import PROBED_KINDS, close_probers, make_probers

__all__ = ["PROBED_KINDS", "ProbeResult", "Prober", "close_probers", "make_probers"]
