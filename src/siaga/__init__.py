"""Siaga: a team's production-readiness standard as code, enforced."""

__version__ = "0.1.0"
