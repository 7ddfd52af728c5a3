#!/usr/bin/env bash
# What one `conductor` command costs, start to exit: wall-clock time and CPU time (user + system, the process and
# its children, from bash's `time`) of `conductor queue`, `submit`, `show` and Slurm's `squeue`, each run as its own
# process against a fresh server with a few jobs in it, median of RUNS after two warm-ups. Three ways to start each:
# ./conductor (the launcher users run: native client commands where they were built), the native binary alone
# (without the launcher's bash and its check for changed sources), and the managed executable (CONDUCTOR_NATIVE=0).
# Usage: bench/cli-startup.sh [RUNS] [PORT]   (needs the CLI built: ./conductor --help)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-20}"
port="${2:-18650}"
launcher="$root/conductor"
native="$root/artifacts/cli/native/conductor"
dir="$(mktemp -d "${TMPDIR:-/tmp}/conductor-bench-cli.XXXXXX")"
url="http://127.0.0.1:$port"
pid=""
ids=()
cleanup() {
  # Jobs outlive a server that stops; end ours first.
  [ ${#ids[@]} -gt 0 ] && "$launcher" cancel "${ids[@]}" >/dev/null 2>&1
  for _ in $(seq 50); do [ -z "$("$launcher" queue -t R --json 2>/dev/null | grep '"job_id"')" ] && break; sleep 0.2; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

"$launcher" --version >/dev/null # builds what is missing, before anything is timed
"$launcher" server --data-dir "$dir/data" --listen "127.0.0.1:$port" --cpus 2 --node bench >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
export CONDUCTOR_URL="$url" CONDUCTOR_DATA_DIR="$dir/data"
mkdir -p "$dir/work" && cd "$dir/work"

# Two running jobs and ten pending behind them: a queue of twelve lines.
for _ in 1 2; do ids+=("$("$launcher" submit --parsable --wrap 'sleep 600')"); done
for _ in $(seq 10); do ids+=("$("$launcher" submit --parsable -c 2 --wrap 'sleep 600')"); done
show_id=$("$launcher" submit --parsable --wrap true)
"$launcher" slurm-commands "$dir/slurm" >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
measure() { # key label command... -> one table row; key_wall_ms and key_cpu_ms into $result
  local key="$1" label="$2"; shift 2
  local times="$dir/times"
  "$@" >/dev/null 2>&1 || true
  "$@" >/dev/null 2>&1 || true
  : >"$times"
  TIMEFORMAT='%R %U %S'
  for ((i = 0; i < runs; i++)); do { time "$@" >/dev/null 2>&1; } 2>>"$times"; done
  local wall cpu
  wall=$(awk '{ printf "%.1f\n", $1 * 1000 }' "$times" | median)
  cpu=$(awk '{ printf "%.1f\n", ($2 + $3) * 1000 }' "$times" | median)
  echo "| $label | $wall | $cpu |"
  result+=" ${key}_wall_ms=$wall ${key}_cpu_ms=$cpu"
}

awk -v d="$(date -u '+%Y-%m-%d %H:%M')" -v c="$(nproc)" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
  -v m="$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" \
  -v g="$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" \
  'BEGIN { printf "# %s UTC, %s cores, %s, %s GiB, load %s\n", d, c, m, g, l }'
echo
echo "| command (one process, median of $runs) | wall ms | CPU ms |"
echo "|---|---|---|"
result=""
have_native=0
[ -x "$native" ] && have_native=1
for c in queue submit show squeue; do
  case $c in
    queue) args=(queue) ;;
    submit) args=(submit --hold --wrap true) ;;
    show) args=(show "$show_id") ;;
    squeue) args=(slurm squeue) ;;
  esac
  if [ "$c" = squeue ]; then
    measure "$c" "squeue (as written by conductor slurm-commands)" "$dir/slurm/squeue"
  else
    measure "$c" "./conductor ${args[*]}" "$launcher" "${args[@]}"
  fi
  if [ $have_native = 1 ]; then
    measure "native_$c" "the native binary alone: conductor ${args[*]}" "$native" "${args[@]}"
  fi
  measure "managed_$c" "CONDUCTOR_NATIVE=0 ./conductor ${args[*]} (managed)" env CONDUCTOR_NATIVE=0 "$launcher" "${args[@]}"
done
echo
echo "RESULT bench=cli runs=$runs native=$have_native$result"
