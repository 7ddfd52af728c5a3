#!/usr/bin/env bash
# What open dashboards cost an idle server: a fresh server, N dashboard pages open in headless Chromium (each logged
# in with its own `conductor dashboard` link, so each holds its event stream), then the server's CPU time over
# SECONDS from /proc/PID/stat (utime + stime), as a share of one core.
# Usage: bench/dashboard-idle.sh [PAGES] [SECONDS] [PORT]   (PORT + 1, + 2, ... are the browsers' DevTools ports)   (needs chromium, curl, ss; the CLI built: ./conductor --help)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pages="${1:-10}"
seconds="${2:-30}"
port="${3:-18643}"
cli="${CONDUCTOR_CLI:-$root/artifacts/cli/conductor.dll}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/conductor-bench-idle.XXXXXX")"
url="http://127.0.0.1:$port"
pid="" browsers=()
cleanup() {
  for b in "${browsers[@]}"; do kill "$b" 2>/dev/null && wait "$b" 2>/dev/null; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

dotnet "$cli" server --data-dir "$dir/data" --listen "127.0.0.1:$port" --cpus 2 >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done
links=()
for _ in $(seq "$pages"); do
  links+=("$(CONDUCTOR_URL="$url" CONDUCTOR_DATA_DIR="$dir/data" dotnet "$cli" dashboard)")
done
# Headless Chromium opens one page from the command line; the others are opened through its DevTools endpoint.
# A browser holds at most six connections to one server (HTTP/1.1), so the pages are spread over browsers of
# five pages each, as over several people's browsers.
browsers=()
for ((first = 0; first < pages; first += 5)); do
  devtools=$((port + 1 + first / 5))
  chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --remote-debugging-port="$devtools" --user-data-dir="$dir/profile-$first" \
    "${links[$first]}" >>"$dir/chromium.log" 2>&1 &
  browsers+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$devtools/json/version" >/dev/null && break; sleep 0.2; done
  for link in "${links[@]:$((first + 1)):4}"; do
    curl -sf -X PUT "http://127.0.0.1:$devtools/json/new?$link" >/dev/null
  done
done

# Every page holds one event stream once it has logged in.
for _ in $(seq 150); do
  streams=$(ss -Htn state established "( sport = :$port )" | wc -l)
  [ "$streams" -ge "$pages" ] && break
  sleep 0.2
done
sleep 5   # let the pages finish loading before measuring

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks); start=$(date +%s.%N)
sleep "$seconds"
after=$(ticks); end=$(date +%s.%N)
streams=$(ss -Htn state established "( sport = :$port )" | wc -l)
share=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", 100 * t / hz / (e - s) }')
echo "pages=$pages connections=$streams seconds=$seconds server_cpu_ticks=$((after - before)) (1/$hz s) share_of_one_core=${share}%"
echo "RESULT pages=$pages connections=$streams idle_cpu_percent=$share"
