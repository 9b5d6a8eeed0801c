#!/usr/bin/env bash
# Fuzz the running server against its own OpenAPI document with schemathesis, twice: with an
# admin key and with a viewer key. Fails on any 5xx, any reply the document does not describe
# (status, content type, headers, body schema), auth that is declared but not enforced, and on
# any change made by the viewer run.
#
# Usage: scripts/schemathesis.sh [path/to/alertgate]   (default: target/debug/alertgate, built)
# Env:   ST_MAX_EXAMPLES (default 50), ST_SEED (default 1), ST_LOG_DIR (default: a temp dir)
#
# The server and the fuzzer run in a network namespace of their own with only loopback, so
# nothing the fuzzer configures (a destination URL, an SNS certificate URL) can reach out.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

if [ "${ST_IN_NETNS:-}" != 1 ] && unshare --net true 2>/dev/null; then
  exec unshare --net env ST_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$self" "$@"
fi
if [ "${ST_IN_NETNS:-}" != 1 ]; then
  echo "schemathesis.sh: cannot make a network namespace (unshare --net); refusing to fuzz with outbound access" >&2
  exit 2
fi

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --quiet -p alertgate
  bin="${CARGO_TARGET_DIR:-target}/debug/alertgate"
fi
command -v schemathesis >/dev/null || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 2; }

max_examples=${ST_MAX_EXAMPLES:-50}
seed=${ST_SEED:-1}
work=$(mktemp -d)
logs=${ST_LOG_DIR:-$work}
admin="st-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

ALERTGATE_ADMIN_TOKEN="$admin" "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
  >"$logs/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

# Real objects for the fuzzer to aim at (random ids only ever reach 404): a webhook with an
# incident that owes a destination a delivery, a viewer key, and a key the admin run may revoke.
api() { curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }
destination=$(api -X POST "$base/api/v1/destinations" \
  -d '{"kind": "webhook", "name": "fuzz sink", "url": "https://sink.example.invalid/hook"}' | field id)
hook=$(api -X POST "$base/api/v1/webhooks" \
  -d '{"name": "fuzz target", "platform": "generic", "rate_limit_per_hour": 0, "notify_workspace": true}')
webhook=$(field id <<<"$hook")
incident=$(curl -fsS -X POST "$(field intake_url <<<"$hook")" -H "Authorization: Bearer $(field secret <<<"$hook")" \
  -H 'Content-Type: application/json' \
  -d '{"title": "Disk full on db-1", "severity": "high", "service": "db"}' | field incident_id)
# The intake is fuzzed on a webhook of its own: the admin run may delete or reconfigure the other.
intake_hook=$(api -X POST "$base/api/v1/webhooks" -d '{"name": "fuzz intake", "rate_limit_per_hour": 0}')
intake=$(field intake_url <<<"$intake_hook")
token=${intake%/trigger}
token=${token##*/}
secret=$(field secret <<<"$intake_hook")
message=$(api "$base/api/v1/incidents/$incident/deliveries" | field items.0.id)
workspace=$(api "$base/api/v1/sessions/current" | field workspace_id)
viewer=$(api -X POST "$base/api/v1/workspaces/$workspace/api-keys" \
  -d '{"name": "fuzz viewer", "role": "viewer"}' | field key)
spare_key=$(api -X POST "$base/api/v1/workspaces/$workspace/api-keys" \
  -d '{"name": "fuzz spare", "role": "responder"}' | field id)

# schemathesis config: those ids in the paths; with `intake_auth`, the intake endpoint is fuzzed
# with the webhook's real secret (alerts get created), else with the caller's key (401s).
config() {
  cat <<TOML
[[operations]]
include-path-regex = '^/api/v1/webhooks/\\{id\\}'
parameters = { "path.id" = "$webhook" }

[[operations]]
include-path-regex = '^/api/v1/incidents/\\{id\\}'
parameters = { "path.id" = "$incident", "path.delivery_id" = "$message" }

[[operations]]
include-path-regex = '^/api/v1/destinations/\\{id\\}'
parameters = { "path.id" = "$destination" }

[[operations]]
include-path-regex = '^/api/v1/workspaces/\\{id\\}'
parameters = { "path.id" = "$workspace", "path.key_id" = "$spare_key" }

[[operations]]
include-path-regex = '^/api/v1/platforms/\\{id\\}'
parameters = { "path.id" = "prometheus" }

[[operations]]
include-path = "/webhook/{token}/trigger"
parameters = { "path.token" = "$token" }
TOML
  if [ "${1:-}" = intake_auth ]; then
    echo "headers = { Authorization = \"Bearer $secret\" }"
  fi
}

# What the viewer must not change (key use times excepted: reading updates them).
snapshot() {
  for p in /api/v1/webhooks /api/v1/incidents /api/v1/destinations /api/v1/correlation \
    "/api/v1/workspaces/$workspace/api-keys" /api/v1/workspaces; do
    echo "== $p"
    api "$base$p" | python3 -c '
import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "last_used_at"}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
print(json.dumps(strip(json.load(sys.stdin)), indent=1, sort_keys=True))'
  done
}

# Checks: everything schemathesis has except the two that test the document's completeness as a
# validator (positive_data_acceptance, negative_data_rejection): the document gives the shapes
# and the simple bounds, not every rule the server checks (JSONPath syntax, regexes, public
# URLs, unique names), so schema-valid requests are legitimately refused with 400.
fuzz() {
  local who=$1 key=$2
  echo "== schemathesis as $who"
  # From the temp dir: schemathesis keeps a cache in the working directory.
  (cd "$work" && timeout 150 schemathesis --config-file "$work/$who.toml" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all --exclude-checks positive_data_acceptance,negative_data_rejection \
    --max-examples "$max_examples" --seed "$seed" --workers 1 \
    --request-timeout 10 --no-color) \
    >"$logs/schemathesis-$who.txt" 2>&1 && status=0 || status=$?
  tail -n 25 "$logs/schemathesis-$who.txt"
  return "$status"
}

config >"$work/viewer.toml"
config intake_auth >"$work/admin.toml"
failed=0
snapshot >"$work/before.txt"
fuzz viewer "$viewer" || failed=1
snapshot >"$work/after.txt"
if ! diff -u "$work/before.txt" "$work/after.txt"; then
  echo "FAIL: the viewer run changed data" >&2
  failed=1
else
  echo "ok: the viewer run changed nothing"
fi
fuzz admin "$admin" || failed=1
if grep -n 'panicked' "$logs/server.log" >&2; then
  echo "FAIL: the server panicked" >&2
  failed=1
fi
if [ "$failed" = 0 ]; then
  [ -n "${ST_LOG_DIR:-}" ] || rm -rf "$work"
  echo "schemathesis: 2 passed, 0 failed"
else
  echo "schemathesis: failures above; reports and the server log are in $logs" >&2
fi
exit "$failed"
