#!/usr/bin/env bash
# The dashboard's history over 100,000 ended jobs: a fresh SQLite server, 100,000 ended jobs written straight into
# its database (sqlite3), then GET /api/v1/history in each order, first page and a deep page, median of 5.
# Usage: bench/dashboard-history.sh [JOBS] [PORT]   (needs sqlite3, curl, python3; the CLI built: ./conductor --help)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${1:-100000}"
port="${2:-18642}"
cli="${CONDUCTOR_CLI:-$root/artifacts/cli/conductor.dll}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/conductor-bench-history.XXXXXX")"
url="http://127.0.0.1:$port"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

start() {
  dotnet "$cli" server --data-dir "$dir/data" --listen "127.0.0.1:$port" --cpus 2 >>"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && return; sleep 0.2; done
  echo "the server did not start; see $dir/server.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }

start; stop   # creates the schema
base=$(( ($(date +%s) - 5 * 86400) * 1000 ))
sqlite3 "$dir/data/conductor.db" "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $jobs)
INSERT INTO jobs (state, name, account, partition, cpus_per_task, ntasks, ntasks_per_node, memory_mib, work_dir,
  stdout_pattern, environment, arguments, exclusive, requeue, max_retries, nice, hold, priority, submit_time,
  eligible_time, start_time, end_time, attempt, node, cores, exit_code, cpu_seconds, max_rss_kib)
SELECT CASE i % 10 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'CANCELLED' ELSE 'COMPLETED' END, 'bulk-' || (i % 1000),
  'acct' || (i % 7), CASE i % 3 WHEN 0 THEN 'gpu' ELSE 'default' END, 1 + i % 4, 1, 1, 1024, '/tmp',
  'slurm-%j.out', '{}', '[]', 0, 0, 0, 0, 0, 0, $base + i * 1000, $base + i * 1000, $base + i * 1000 + (i % 50) * 100,
  $base + i * 1000 + 60000 + (i % 600) * 1000, 1, 'node', '0', '0:0', (i % 97) * 1.5, (i % 500) * 1024 FROM n;
ANALYZE;"
start
token="$(cat "$dir/data/admin.token")"

median_ms() { # query → median of 5 response times in ms
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$url/api/v1/history?$1"; done |
    sort -n | sed -n 3p | awk '{ printf "%.1f", $1 * 1000 }'
}
deep_cursor() { # the cursor after 20 pages of 1000
  local q="$1" after=""
  for _ in $(seq 20); do
    after=$(curl -s -H "Authorization: Bearer $token" "$url/api/v1/history?$q&limit=1000${after:+&after=$after}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["next_after"] or "")')
  done
  echo "$after"
}

printf '| order / filter | first page (ms) | page 21 000+ (ms) |\n|---|---|---|\n'
result="RESULT jobs=$jobs"
for q in "sort=end" "sort=cpu_efficiency" "sort=memory_efficiency&order=asc" "account=acct3&state=FAILED" "name=bulk-99&sort=cpu_efficiency"; do
  first=$(median_ms "$q&limit=50")
  cursor=$(deep_cursor "$q")
  deep=$([ -n "$cursor" ] && median_ms "$q&limit=50&after=$cursor" || echo "-")
  printf '| `%s` | %s | %s |\n' "$q" "$first" "$deep"
  result="$result ${q%%&*}_first_ms=$first"
done
echo "$result"
