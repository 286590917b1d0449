#!/usr/bin/env bash
# `make run`: Siaga on the demo spec, SQLite under $SIAGA_DATA_DIR, with an admin token made on first start.
set -euo pipefail
export SIAGA_DATA_DIR=${SIAGA_DATA_DIR:-.siaga}
port=${SIAGA_PORT:-8080}
bin=.venv/bin
export DEMO_API_URL=${DEMO_API_URL:-http://127.0.0.1:$port}  # the demo's "api" check probes this Siaga
mkdir -p "$SIAGA_DATA_DIR"
token_file="$SIAGA_DATA_DIR/demo-admin.token"
if [ ! -s "$token_file" ]; then
  (umask 077 && "$bin/siaga" token create --name demo-admin --role admin > "$token_file")
fi
password_file="$SIAGA_DATA_DIR/demo-user.password"
if [ ! -s "$password_file" ]; then
  (umask 077 && "$bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$password_file")
  "$bin/siaga" user create demo --role responder --password-file "$password_file" >/dev/null
fi
cat <<MSG
Siaga demo — spec examples/demo/siaga.yaml, data in $SIAGA_DATA_DIR/
  dashboard: http://127.0.0.1:$port/   (sign in as demo, password in $password_file)
  status:    http://127.0.0.1:$port/status
  API docs:  http://127.0.0.1:$port/api/docs
  health:    curl http://127.0.0.1:$port/health
  token:     export SIAGA_TOKEN=\$(cat $token_file)   (admin; kept in $token_file)
  try:       .venv/bin/siaga alert send --server http://127.0.0.1:$port -l alertname=DatabaseDown -l service=database -l severity=critical
             .venv/bin/siaga incidents list --server http://127.0.0.1:$port
             .venv/bin/siaga checks list --server http://127.0.0.1:$port
MSG
exec "$bin/siaga" run --config examples/demo/siaga.yaml --port "$port"
