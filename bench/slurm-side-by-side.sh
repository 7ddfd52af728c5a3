#!/usr/bin/env bash
# Conductor beside Slurm 22.05 on this machine, in one run, on the same trivial job script (`#!/bin/bash` + `true`)
# with the same number of CPU slots:
#   - N single jobs, one submit process each (sbatch / conductor submit) from 4 clients at once, until all ended;
#   - one job array of N tasks (sbatch --array / conductor submit --array), until all ended;
#   - one `squeue` process (Slurm's, and Conductor's as written by `conductor slurm-commands`), wall and CPU time.
# Slurm runs as a private one-node cluster on 127.0.0.1: its own munged (own key and socket), slurmctld and slurmd,
# with their configuration, state, spool and logs in a temporary directory, on ports PORT and PORT+1. Only the
# processes this script started are stopped at the end, by their pids; nothing else on the machine is touched.
# Run as root: slurmd runs jobs as their users, and missing packages are installed from Debian (slurm-wlm, munge).
# Usage: bench/slurm-side-by-side.sh [N] [PORT]   (BENCH_CPUS=2 slots; the Conductor server listens on PORT+2)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-200}"
port="${2:-16817}"
cpus="${BENCH_CPUS:-2}"
clients=4
runs=20
launcher="$root/conductor"

log() { printf '%s\n' "$*" >&2; }
die() { log "slurm-side-by-side: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (slurmd starts jobs as their users; packages may need installing)."

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge from Debian..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/conductor-bench-slurm.XXXXXX")"
chmod 755 "$dir"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# munge: a key and a daemon of our own, so the machine's munged (if any) is neither needed nor disturbed.
mkdir -p "$dir/munge"
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chown -R munge:munge "$dir/munge"
chmod 700 "$dir/munge"
chmod 400 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --foreground --force --socket="$socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/munge/munged.log" \
  --num-threads=10 >"$dir/munge/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 && break; sleep 0.1; done
munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 || die "munged did not start: $(cat "$dir/munge/munged.log" 2>/dev/null)"

# One node on 127.0.0.1 with the tuning that makes Slurm 22.05 fastest on one small node: scheduling on every
# pass (batch_sched_delay=0), an Epilog so that a job's end schedules at once, no accounting, finished jobs purged
# after 2 s.
node="$(hostname -s)"
mkdir -p "$dir"/{state,spool,log,run}
export SLURM_CONF="$dir/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=conductorbench
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$socket
MpiDefault=none
ReturnToService=2
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=error
SlurmdDebug=error
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
PriorityType=priority/basic
MinJobAge=2
MaxJobCount=200000
MaxArraySize=100001
MessageTimeout=20
SchedulerParameters=batch_sched_delay=0
Epilog=/bin/true
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=bench Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
(cd "$dir/run" && exec /usr/sbin/slurmctld -D -c -f "$SLURM_CONF") >"$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld did not start: $(cat "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" 2>/dev/null | tail -5)"
(cd "$dir/run" && exec /usr/sbin/slurmd -D -N "$node" -f "$SLURM_CONF") >"$dir/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 150); do [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] && break; sleep 0.2; done
[ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] || die "the Slurm node did not come up: $(tail -5 "$dir/log/slurmd.log" 2>/dev/null)"

# Conductor: a fresh server with the same slots, and Slurm's command names for it in a directory of their own.
"$launcher" --version >/dev/null
"$launcher" server --data-dir "$dir/conductor" --listen "127.0.0.1:$((port + 2))" --cpus "$cpus" --node "$node" \
  >"$dir/log/conductor.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$((port + 2))") 2>/dev/null && break; sleep 0.2; done
"$launcher" slurm-commands "$dir/conductor-bin" >/dev/null
conductor_env=(env CONDUCTOR_URL="http://127.0.0.1:$((port + 2))" CONDUCTOR_DATA_DIR="$dir/conductor")

cd "$dir/run"
printf '#!/bin/bash\ntrue\n' >job.sh
chmod +x job.sh

now() { printf '%s\n' "$EPOCHREALTIME"; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Polls the queue with the side's own squeue every 0.1 s until it is empty.
wait_empty() { # squeue-command...
  while [ -n "$("$@" -h -o %i 2>/dev/null || echo busy)" ]; do sleep 0.1; done
}
slurm_squeue=(squeue)
conductor_squeue=("${conductor_env[@]}" "$dir/conductor-bin/squeue")

singles() { # side submit-command... -> jobs/s
  local side="$1"; shift
  local t0 t1
  t0=$(now)
  seq "$n" | xargs -P "$clients" -I{} "$@" -o /dev/null job.sh >/dev/null
  if [ "$side" = slurm ]; then wait_empty "${slurm_squeue[@]}"; else wait_empty "${conductor_squeue[@]}"; fi
  t1=$(now)
  rate "$n" "$t0" "$t1"
}
array() { # side submit-command... -> jobs/s, or n/a when the side has no arrays
  local side="$1"; shift
  local t0 t1
  t0=$(now)
  "$@" --array="1-$n" -o /dev/null job.sh >/dev/null 2>"$dir/array-$side.err" || { echo n/a; return; }
  if [ "$side" = slurm ]; then wait_empty "${slurm_squeue[@]}"; else wait_empty "${conductor_squeue[@]}"; fi
  t1=$(now)
  rate "$n" "$t0" "$t1"
}
startup() { # command... -> "wall cpu" medians in ms
  local times="$dir/times"
  "$@" >/dev/null 2>&1 || true
  : >"$times"
  TIMEFORMAT='%R %U %S'
  for ((i = 0; i < runs; i++)); do { time "$@" >/dev/null 2>&1; } 2>>"$times"; done
  echo "$(awk '{ printf "%.1f\n", $1 * 1000 }' "$times" | median) $(awk '{ printf "%.1f\n", ($2 + $3) * 1000 }' "$times" | median)"
}

log "squeue start-up..."
read -r s_sq_wall s_sq_cpu < <(startup "${slurm_squeue[@]}")
read -r c_sq_wall c_sq_cpu < <(startup "${conductor_squeue[@]}")
log "$n single jobs each..."
s_single=$(singles slurm sbatch -Q)
c_single=$(singles conductor "${conductor_env[@]}" "$dir/conductor-bin/sbatch" -Q)
log "one array of $n each..."
s_array=$(array slurm sbatch -Q)
c_array=$(array conductor "${conductor_env[@]}" "$dir/conductor-bin/sbatch" -Q)

awk -v d="$(date -u '+%Y-%m-%d %H:%M')" -v c="$(nproc)" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
  -v m="$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" -v v="$(sinfo -V)" \
  'BEGIN { printf "# %s UTC, %s cores, %s, load %s; %s\n", d, c, m, l, v }'
echo
echo "| measure ($cpus slots, trivial jobs) | Slurm | Conductor | Conductor / Slurm |"
echo "|---|---|---|---|"
echo "| $n single jobs, one sbatch each from $clients clients, jobs/s | $s_single | $c_single | $(ratio "$c_single" "$s_single") |"
echo "| one array of $n tasks, jobs/s | $s_array | $c_array | $(ratio "$c_array" "$s_array") |"
echo "| squeue, one process, wall ms (CPU ms): lower is better | $s_sq_wall ($s_sq_cpu) | $c_sq_wall ($c_sq_cpu) | $(ratio "$c_sq_wall" "$s_sq_wall") ($(ratio "$c_sq_cpu" "$s_sq_cpu")) |"
[ "$c_array" = n/a ] && echo && echo "Conductor's array submit failed: $(head -c 300 "$dir/array-conductor.err")"
echo
echo "RESULT bench=slurm n=$n cpus=$cpus slurm_single_jobs_per_s=$s_single conductor_single_jobs_per_s=$c_single" \
  "single_ratio=$(ratio "$c_single" "$s_single") slurm_array_jobs_per_s=$s_array conductor_array_jobs_per_s=$c_array" \
  "array_ratio=$(ratio "$c_array" "$s_array") slurm_squeue_wall_ms=$s_sq_wall slurm_squeue_cpu_ms=$s_sq_cpu" \
  "conductor_squeue_wall_ms=$c_sq_wall conductor_squeue_cpu_ms=$c_sq_cpu"
