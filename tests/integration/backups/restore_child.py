"""Run one restore with a file-size limit, as a child process: ``python restore_child.py`` reads a JSON
request on stdin and prints the outcome as JSON.

RLIMIT_FSIZE makes every write past ``limit`` bytes fail with EFBIG (Python ignores SIGXFSZ and restic
inherits that), which is how a full scratch disk looks to a restore — without a tmpfs or a loop device.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from siaga.integrations import backup_engines
from siaga.integrations.restic import RepoLocation, Restic


def main() -> None:
    request = json.load(sys.stdin)
    limit = int(request["limit"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    location = RepoLocation(request["url"], request["password"], env=request.get("env", {}))
    restic = Restic(location, cache_dir=Path(request["cache"]))
    outcome = backup_engines.restore(restic, request["snapshot"], request["target"])
    json.dump({"ok": outcome.ok, "kind": outcome.kind, "reason": outcome.reason}, sys.stdout)


if __name__ == "__main__":
    main()
