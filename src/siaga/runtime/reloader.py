"""Hot reload of the spec: a changed file is loaded and swapped in; an invalid one is rejected and the spec
already running stays in force."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from siaga.bootstrap import Container
from siaga.services.policy import Policy
from siaga.spec import SpecError, load_spec

log = logging.getLogger(__name__)


class SpecReloader:
    def __init__(self, container: Container, path: Path) -> None:
        self._container = container
        self._path = path
        self._stamp = self._read_stamp()
        self.last_error: str | None = None

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def check(self) -> bool:
        """Reload when the file changed; return True when a new spec took effect."""
        stamp = self._read_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            spec = load_spec(self._path)
        except SpecError as error:
            self.last_error = str(error)
            log.error("spec %s rejected, the running spec stays in force:\n%s", self._path, error)
            return False
        except OSError as error:
            self.last_error = f"{self._path}: {error.strerror}"
            log.error("spec %s unreadable, the running spec stays in force: %s", self._path, error.strerror)
            return False
        self._container.spec = spec
        self._container.policy = Policy.from_spec(spec)
        self.last_error = None
        log.warning("spec %s reloaded", self._path)
        return True
