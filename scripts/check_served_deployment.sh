#!/usr/bin/env bash
# End-to-end check of the served nightly deployment, offline, in a throwaway Prefect home:
# start a Prefect server on 127.0.0.1:4299, `wow serve` the sample landing zone, trigger
# 'nightly/wow-nightly' by hand, wait for the flow run to finish, print its final state, then
# deploy prefect.yaml against the same server and show its schedule. Stops what it started.
# Exit 0 when the run completed and prefect.yaml deployed. Takes about a minute.
# Extra run parameters: PARAMS="--param dask_address=local --param partitions=4" ./check_served...
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$REPO/.venv/bin}"
PORT="${PORT:-4299}"
TIMEOUT="${TIMEOUT:-300}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wow-served-check.XXXXXX")"

export PREFECT_HOME="$WORK/prefect-home"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false GX_ANALYTICS_ENABLED=false
export PREFECT_SERVER_UI_ENABLED=false   # the API is all this check needs
export WOW_PSEUDONYM_KEY="${WOW_PSEUDONYM_KEY:-served-check-pseudonym-key-not-a-secret-0a6e2c8f4b}"

SERVER_PID=""
SERVE_PID=""

stop() {  # stop one process group this script started: TERM, then KILL after 20 s
  local pid="$1" name="$2"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { echo "stopped $name (pid $pid)"; return 0; }; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  echo "killed $name (pid $pid)"
}
cleanup() {
  stop "$SERVE_PID" "wow serve"
  stop "$SERVER_PID" "prefect server"
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

cp -R "$REPO/data/sample" "$WORK/landing"

say "starting prefect server on 127.0.0.1:$PORT (PREFECT_HOME=$PREFECT_HOME)"
setsid "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 120); do
  curl -fsS "$PREFECT_API_URL/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "server died"; exit 1; }
  [ "$i" = 120 ] && { tail -20 "$WORK/server.log"; echo "server not healthy after 60 s"; exit 1; }
  sleep 0.5
done
say "server healthy"

say "wow serve --landing $WORK/landing --warehouse $WORK/warehouse"
(cd "$REPO" && exec setsid "$BIN/wow" serve --landing "$WORK/landing" --warehouse "$WORK/warehouse") \
  >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for i in $(seq 1 60); do
  "$BIN/prefect" deployment inspect nightly/wow-nightly >"$WORK/deployment.txt" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; echo "wow serve died"; exit 1; }
  [ "$i" = 60 ] && { cat "$WORK/serve.log"; echo "deployment not registered"; exit 1; }
  sleep 1
done
say "deployment registered; its schedule:"
grep -E "'cron'|'timezone'" "$WORK/deployment.txt" | sed 's/^ */    /'

say "prefect deployment run nightly/wow-nightly ${PARAMS:-}"
# shellcheck disable=SC2086  # PARAMS is a list of --param options
"$BIN/prefect" deployment run nightly/wow-nightly ${PARAMS:-} | tee "$WORK/trigger.txt"
RUN_ID="$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$WORK/trigger.txt" | head -1)"
[ -n "$RUN_ID" ] || { echo "no flow run id in the output"; exit 1; }

state_of() {
  "$BIN/prefect" flow-run inspect "$1" --output json 2>/dev/null \
    | "$BIN/python" -c 'import json,sys; s=json.load(sys.stdin)["state"]; print(s["type"], s["name"])'
}
say "waiting for flow run $RUN_ID (up to $TIMEOUT s)"
started=$(date +%s)
STATE=""
while :; do
  STATE="$(state_of "$RUN_ID" || true)"
  case "$STATE" in COMPLETED*|FAILED*|CRASHED*|CANCELLED*) break ;; esac
  if [ $(( $(date +%s) - started )) -ge "$TIMEOUT" ]; then break; fi
  sleep 3
done
say "final state of flow run $RUN_ID: ${STATE:-unknown}"

"$BIN/python" - "$RUN_ID" "$WORK/warehouse" <<'EOF'
import asyncio, sys, uuid
from pathlib import Path

import duckdb
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)


async def artifacts(run_id):
    async with get_client() as client:
        # With dask_address the work happens in a subflow run ('nightly-on-dask-...').
        children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))
        return await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id, *(r.id for r in children)])))


run_id, warehouse = uuid.UUID(sys.argv[1]), Path(sys.argv[2])
for a in asyncio.run(artifacts(run_id)):
    if a.key:
        print(f"    artifact {a.key} ({a.type})")
if (warehouse / "wow.duckdb").exists():
    with duckdb.connect(str(warehouse / "wow.duckdb"), read_only=True) as con:
        days, periods = con.execute(
            "select (select count(*) from ehr_time_by_clinician_day), "
            "(select count(*) from ehr_time_by_clinician_period)").fetchone()
    print(f"    published {warehouse / 'wow.duckdb'}: {days} clinician-days, {periods} clinician-periods")
EOF

stop "$SERVE_PID" "wow serve"; SERVE_PID=""
say "last lines of wow serve's log:"
grep -vE "^\s*$" "$WORK/serve.log" | grep -E "Flow run|flow run|published|extracts:|Worker|Runner|deployment" | tail -8 | sed 's/^/    /' || true

say "prefect deploy from prefect.yaml (work pool wow-pool) against the same server"
"$BIN/prefect" work-pool create wow-pool --type process >/dev/null
(cd "$REPO" && WOW_LANDING="$WORK/landing" WOW_WAREHOUSE="$WORK/warehouse" \
  "$BIN/prefect" --no-prompt deploy --name wow-nightly >"$WORK/deploy.log" 2>&1) \
  || { cat "$WORK/deploy.log"; echo "prefect deploy failed"; exit 1; }
"$BIN/prefect" deployment inspect nightly/wow-nightly >"$WORK/deployment.txt"
grep -E "'work_pool_name'|'entrypoint'|'cron'|'timezone'|'(landing|warehouse)': '" "$WORK/deployment.txt" \
  | sed 's/^ */    /'

case "$STATE" in
  COMPLETED*) say "OK: the served deployment ran to completion"; exit 0 ;;
  *) say "FAILED: flow run ended in ${STATE:-an unknown state}"; tail -40 "$WORK/serve.log"; exit 1 ;;
esac
