#!/usr/bin/env bash
# A single-node Slurm (munged + slurmctld + slurmd) on 127.0.0.1 under one base dir, for
# trying launch/slurm.sbatch and the submitit launcher without a cluster; the launch tests
# (tests/launch/) bring it up through this script. Needs root and the Debian packages
# `slurmctld slurmd slurm-client munge` (22.05 tested); nothing system-wide is touched:
# own ports, own munge socket, state/log/pid files under BASE, no systemd.
#
#   launch/local_slurm.sh up BASE      # prints the line to eval: export SLURM_CONF=BASE/slurm.conf
#   eval "$(launch/local_slurm.sh up /tmp/slurm)"; sbatch ...; launch/local_slurm.sh down /tmp/slurm
#
# Teardown is by the PID files under BASE, never by process name: other clusters (other
# users, other test sessions) may run on the same machine.
set -euo pipefail
cmd=${1:-}; base=${2:-}
[[ ($cmd == up || $cmd == down) && -n $base ]] || { sed -n '2,12p' "$0"; exit 2; }
base=$(mkdir -p "$base" && cd "$base" && pwd)

stepds() {
  # slurmstepd processes of THIS cluster: the slurmstepd binary with our SLURM_CONF in its
  # environment (other clusters on the machine have their own), listed by PID
  local stepd exe p
  stepd=$(readlink -f "$(dirname "$(command -v slurmd || echo /usr/sbin/slurmd)")/slurmstepd")
  for p in /proc/[0-9]*; do
    exe=$(readlink -f "$p/exe" 2>/dev/null) || continue
    [[ $exe == "$stepd" ]] && tr '\0' '\n' <"$p/environ" 2>/dev/null \
      | grep -qxF "SLURM_CONF=$base/slurm.conf" && echo "${p#/proc/}"
  done
  return 0
}

down() {
  # cancel what still runs and give each job's slurmstepd up to 10 s to report to slurmd:
  # one whose daemons vanish first lingers forever (it ignores SIGTERM)
  if [[ -s $base/slurmctld.pid ]]; then
    SLURM_CONF=$base/slurm.conf scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 100); do [[ -z $(stepds) ]] && break; sleep 0.1; done
  fi
  # TERM the daemons at once (each takes ~1.5-2 s to exit), then KILL what is left after 5 s
  local pids=($(stepds)) pidfile pid
  [[ ${#pids[@]} -gt 0 ]] && kill -9 "${pids[@]}" 2>/dev/null
  pids=()
  for pidfile in "$base/slurmd.pid" "$base/slurmctld.pid" "$base/munge/munged.pid"; do
    [[ -s $pidfile ]] && pid=$(<"$pidfile") && kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidfile"
  done
  for _ in $(seq 50); do
    local alive=()
    for pid in ${pids[@]+"${pids[@]}"}; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [[ ${#alive[@]} -eq 0 ]] && return 0
    sleep 0.1
  done
  kill -9 "${alive[@]}" 2>/dev/null || true
}
if [[ $cmd == down ]]; then down; exit 0; fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
host=$(hostname -s)
mkdir -p "$base"/{munge,state,spool,log}
# munged refuses keys and dirs that group/other can write or read
chmod 700 "$base/munge"
key=$base/munge/munge.key
[[ -s $key ]] || { head -c 1024 /dev/urandom >"$key"; chmod 400 "$key"; }
socket=$base/munge/munge.socket.2
munged --force --socket="$socket" --key-file="$key" \
  --pid-file="$base/munge/munged.pid" --log-file="$base/log/munged.log" \
  --seed-file="$base/munge/munged.seed"

# claim at least 4 CPUs (SlurmdParameters=config_overrides): a 2-core box then runs a 2-task
# job beside a sweep point instead of queueing it; the tiny test jobs are not CPU-bound enough
# for the oversubscription to matter
cpus=$(( $(nproc) > 4 ? $(nproc) : 4 ))
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat >"$base/slurm.conf" <<EOF
ClusterName=harnessrl-local
# the controller and the node are this machine, by its short name, reached on loopback
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# own munged socket; cred_expire=10 (default 120): a requeued job may start again only after
# its old credential expires, so this makes requeue -> restart ~20 s instead of ~2 min
AuthInfo=socket=$socket,cred_expire=10
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/slurmctld.pid
SlurmdPidFile=$base/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
# no cgroups needed (containers often lack a writable cgroup fs)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# a finished job stays visible to scontrol for 5 min (tests read its state and restart count)
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$base/slurm.conf
# -i: ignore state left by an earlier bring-up of the same base (jobs of a dead cluster)
slurmctld -i -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 150); do
  if state=$(sinfo -h -N -o %t 2>/dev/null) && [[ $state == idle* ]]; then
    echo "export SLURM_CONF=$SLURM_CONF"; exit 0
  fi
  sleep 0.2
done
echo "local_slurm: node not idle after 30 s (state: ${state:-none}); logs in $base/log" >&2
down; exit 1
