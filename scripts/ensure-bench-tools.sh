#!/usr/bin/env bash
# Install (as root, when missing) the peer of the probe benchmark (bench/probes.py): Debian's Prometheus and
# blackbox_exporter. Another process may be installing them right now: wait for it (the binaries to appear,
# or the dpkg lock to be released) before installing anything ourselves.
set -euo pipefail

missing() {
  local need=()
  [ -x /usr/bin/prometheus ] || need+=(prometheus)
  [ -x /usr/bin/prometheus-blackbox-exporter ] || need+=(prometheus-blackbox-exporter)
  echo "${need[*]}"
}
locked() { command -v fuser >/dev/null && fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; }
versions() {
  echo "bench tools: Prometheus $(/usr/bin/prometheus --version 2>&1 | awk 'NR == 1 {print $3}')," \
    "blackbox_exporter $(/usr/bin/prometheus-blackbox-exporter --version 2>&1 | awk 'NR == 1 {print $3}')"
}

# An install in progress elsewhere: wait (up to 15 minutes) for it to finish or to let go of the lock.
for _ in $(seq 1 900); do
  [ -z "$(missing)" ] && { versions; exit 0; }
  locked || break
  sleep 1
done

need=$(missing)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "the probe benchmark needs these Debian packages: $need (run as root to install them)" >&2
  exit 1
fi
if locked; then
  echo "dpkg is still locked after 15 minutes; cannot install: $need" >&2
  exit 1
fi

echo "installing $need ..."
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086  # $need is a list of package names
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  $need >/dev/null
need=$(missing)
if [ -n "$need" ]; then
  echo "still missing after apt-get install: $need" >&2
  exit 1
fi
versions
