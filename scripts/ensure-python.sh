#!/usr/bin/env bash
# Make sure python3 (>= 3.11) with venv is there; on a fresh Debian machine install it when running as root.
set -euo pipefail
if python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  exit 0
fi
echo "siaga: needs python3 >= 3.11 with the venv module (Debian: apt-get install python3-venv)" >&2
exit 1
