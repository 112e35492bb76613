#!/usr/bin/env bash
# The live replay: a Spark Connect server, `dagster dev` (UI + daemon) on 127.0.0.1:3000 (ECOM_UI_PORT) with the
# replay sensor turned on, one hour of November every 10 seconds. Ctrl-C stops everything.
# Needs the batch graph materialized first (`make demo`). Set INFLUX_URL to publish to InfluxDB;
# without it, points go to line-protocol files under the lake's temp/influx/.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/bin
port="${ECOM_SPARK_CONNECT_PORT:-15002}"
ui_port="${ECOM_UI_PORT:-3000}"
"$VENV/ecom" ui --check  # one line naming the program on the UI's port, before anything starts
"$VENV/ecom" spark start
export ECOM_SPARK_REMOTE="sc://127.0.0.1:${port}"
setsid "$VENV/dagster" dev -h 127.0.0.1 -p "$ui_port" &
dev_pid=$!
stop() {
  kill -TERM -- "-${dev_pid}" 2>/dev/null || true
  wait "$dev_pid" 2>/dev/null || true
  "$VENV/ecom" spark stop || true
}
trap stop EXIT INT TERM
for _ in $(seq 1 120); do
  "$VENV/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${ui_port}/server_info', timeout=2)" 2>/dev/null && break
  sleep 1
done
"$VENV/dagster" sensor start november_replay_sensor -w workspace.yaml
echo "replay running: http://127.0.0.1:${ui_port}/overview/automation (Ctrl-C to stop)"
wait "$dev_pid"
