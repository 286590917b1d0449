"""Deployment settings, read from the environment (the spec says *what* to enforce; these say *where*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'siaga.db'}"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    config_path: Path
    metrics_public: bool = False
    sweep_interval: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, config: str | Path | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("SIAGA_DATA_DIR", ".siaga"))
        metrics = env.get("SIAGA_METRICS", "token").strip().lower()
        if metrics not in {"open", "token"}:
            raise SettingsError(f"SIAGA_METRICS must be 'open' or 'token', not '{metrics}'")
        interval_text = env.get("SIAGA_SWEEP_INTERVAL", "1")
        try:
            interval = float(interval_text)
        except ValueError:
            raise SettingsError(
                f"SIAGA_SWEEP_INTERVAL must be a number of seconds, not '{interval_text}'"
            ) from None
        return cls(
            data_dir=data_dir,
            database_url=env.get("SIAGA_DATABASE_URL") or sqlite_url(data_dir),
            config_path=Path(config or env.get("SIAGA_CONFIG") or "siaga.yaml"),
            metrics_public=metrics == "open",
            sweep_interval=interval,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
