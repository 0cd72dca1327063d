#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing `privsplit plan` end to end (never for real work).
#   bash scripts/slurm-local.sh up DIR     installs slurm-wlm + munge if missing, writes DIR/slurm.conf, starts
#                                          munged, slurmctld and slurmd; prints `export SLURM_CONF=DIR/slurm.conf`
#   bash scripts/slurm-local.sh down DIR   cancels every job, stops the daemons by their pid files
# No systemd: the daemons are started directly. No cgroups, no accounting; localhost only.
set -euo pipefail
cmd=${1:?usage: slurm-local.sh up|down DIR}
dir=$(mkdir -p "${2:?usage: slurm-local.sh up|down DIR}" && cd "$2" && pwd)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

up() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        as_root apt-get update -q
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends slurm-wlm munge
    fi
    local host; host=$(hostname -s)
    if ! getent hosts "$host" | grep -q '^127\.'; then
        echo "slurm-local: the short hostname '$host' must resolve to 127.0.0.1 (add it to /etc/hosts)" >&2
        exit 1
    fi
    # munge: a locally generated key, its own socket and pid file in DIR.
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
    chmod 0755 "$dir"
    as_root mkdir -p /run/munge
    as_root chown munge:munge /run/munge 2>/dev/null || true
    if [ ! -f "$dir/munge/munge.key" ]; then
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    fi
    as_root chown -R munge:munge "$dir/munge" 2>/dev/null || true
    chmod 0700 "$dir/munge"; chmod 0400 "$dir/munge/munge.key"
    if [ "$(id -u)" -eq 0 ]; then
        su -s /bin/sh munge -c "munged --key-file=$dir/munge/munge.key --pid-file=$dir/munge/munged.pid --log-file=$dir/munge/munged.log --seed-file=$dir/munge/munge.seed --socket=/run/munge/munge.socket.2" 
    else
        munged --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munge.seed" --socket=/run/munge/munge.socket.2
    fi
    local node; node=$(slurmd -C | head -1)
    local user; user=$(id -un)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=privsplit-local
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    # Wait until the node is idle (bounded).
    for _ in $(seq 1 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'; then
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm-local: the node did not become idle within 30 s; logs in $dir/log" >&2
    sinfo >&2 || true
    exit 1
}

down() {
    export SLURM_CONF="$dir/slurm.conf"
    scancel --user="$(id -un)" 2>/dev/null || true
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        if [ -f "$pidfile" ]; then
            as_root kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    # Give them a moment to exit (bounded).
    for _ in $(seq 1 20); do
        pgrep -f "slurmctld -f $dir/slurm.conf|slurmd -f $dir/slurm.conf" >/dev/null || break
        sleep 0.25
    done
}

case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: slurm-local.sh up|down DIR" >&2; exit 2 ;;
esac
