#!/usr/bin/env bash
# Install (as root, when missing) and start what the test suite talks to: PostgreSQL, MariaDB, Redis, a real
# Prometheus stack (Prometheus and promtool, Alertmanager and amtool, blackbox_exporter, node_exporter) and
# chromium for the browser tests. A service that cannot be had fails the run: tests never skip for a missing service.
set -euo pipefail

need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v prometheus-alertmanager >/dev/null || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/prometheus-blackbox-exporter ] || need+=(prometheus-blackbox-exporter)
[ -x /usr/bin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)
command -v restic >/dev/null || need+=(restic)  # backup repositories
command -v pgbackrest >/dev/null || need+=(pgbackrest)  # PostgreSQL point-in-time recovery
[ -x /usr/sbin/nginx ] || need+=(nginx)  # the security audit's nginx tests run a real one
[ -x /usr/bin/chromium ] || need+=(chromium)  # browser tests (Playwright drives Debian's chromium)
command -v redis-server >/dev/null || need+=(redis-server)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "siaga tests need these Debian packages: ${need[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "installing ${need[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A package's own service start is skipped in containers; stop any unit-managed Alertmanager from taking :9093.
if pgrep -f '^/usr/bin/prometheus-alertmanager' >/dev/null && [ -z "${SIAGA_KEEP_SYSTEM_ALERTMANAGER:-}" ]; then
  pkill -f '^/usr/bin/prometheus-alertmanager' || true
fi
# Likewise the packages' own Prometheus and exporters (tests run their own on free ports).
if [ -z "${SIAGA_KEEP_SYSTEM_PROMETHEUS:-}" ]; then
  pkill -f '^/usr/bin/prometheus( |$)' || true
  pkill -f '^/usr/bin/prometheus-(node|blackbox)-exporter' || true
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
  cluster=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
# Tests log in as postgres/postgres over TCP; a fresh Debian cluster uses password auth there.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
fi

my_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }
if ! my_up; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do my_up && break; sleep 1; done
fi
if ! my_up && [ "$(id -u)" = 0 ]; then
  # A fresh Debian install lets root in by socket only; open TCP login without a password for the test server.
  mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" >/dev/null 2>&1 || true
fi
my_up || { echo "MariaDB does not answer on 127.0.0.1:3306" >&2; exit 1; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }
echo "test services: PostgreSQL, MariaDB, Redis up; Alertmanager $(prometheus-alertmanager --version 2>&1 | head -n 1 | awk '{print $3}')," \
  "Prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}')"
