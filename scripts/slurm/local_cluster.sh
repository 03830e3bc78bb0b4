#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests marked `slurm` (make test-slurm).
#
#   scripts/slurm/local_cluster.sh start   install slurm-wlm and munge if missing, write the
#                                          configuration, start munged, slurmctld and slurmd,
#                                          wait until the node is idle
#   scripts/slurm/local_cluster.sh stop    cancel the cluster's jobs, stop the daemons it started
#   source <(scripts/slurm/local_cluster.sh env)   point sbatch/squeue/scancel at the cluster
#
# Everything lives in one directory this script owns ($BENCH_SLURM_DIR, default
# /tmp/bench-slurm): slurm.conf, a munge key and socket, state, spool, logs and the daemons' pid
# files. Clients find it through SLURM_CONF; no file under /etc is read or written. The node has
# 2 CPUs and two partitions: "debug" (the default, one job per CPU) and "oversubscribed" (up to
# four jobs per CPU, for tests that need jobs to overlap); accounting is off.
set -euo pipefail

DIR=${BENCH_SLURM_DIR:-/tmp/bench-slurm}
MARK="$DIR/.written-by-bench"
CONF="$DIR/slurm.conf"
NODE=$(hostname -s)
CTLD_PORT=${BENCH_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${BENCH_SLURM_SLURMD_PORT:-6818}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_if_missing() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    echo "installing slurm-wlm and munge"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
               slurm-wlm munge)
    as_root "${apt[@]}" || { as_root apt-get update && as_root "${apt[@]}"; }
}

claim_directory() {
    if [ -e "$DIR" ] && [ ! -e "$MARK" ]; then
        echo "$DIR exists and was not written by this script; set BENCH_SLURM_DIR" >&2
        exit 2
    fi
    mkdir -p "$DIR"/{state,spool,munge}
    touch "$MARK"
    chmod 700 "$DIR/munge"
}

write_configuration() {
    cat > "$CONF" <<CONF
# Written by scripts/slurm/local_cluster.sh: a one-node test cluster. Do not edit.
ClusterName=bench-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=oversubscribed Nodes=$NODE OverSubscribe=FORCE:4 MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if [ ! -s "$DIR/munge/munge.key" ]; then
        mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null \
            || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$DIR/munge/munge.key"
    fi
    munged --foreground --force --key-file="$DIR/munge/munge.key" \
        --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
        >>"$DIR/munge/munged.out" 2>&1 &
    echo $! > "$DIR/munged.started"
    for _ in $(seq 50); do [ -S "$DIR/munge/munge.socket" ] && return; sleep 0.1; done
    echo "munged did not start; see $DIR/munge/munged.log" >&2
    exit 1
}

start_slurm() {
    export SLURM_CONF="$CONF"
    slurmctld -D -c -f "$CONF" >>"$DIR/slurmctld.out" 2>&1 &
    echo $! > "$DIR/slurmctld.started"
    sleep 1
    slurmd -D -f "$CONF" -N "$NODE" >>"$DIR/slurmd.out" 2>&1 &
    echo $! > "$DIR/slurmd.started"
    for _ in $(seq 120); do
        if [ "$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | sort -u)" = idle ]; then
            echo "cluster up: node $NODE idle; SLURM_CONF=$CONF"
            return
        fi
        sleep 0.5
    done
    echo "the node did not become idle; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
    sinfo -N -l || true
    exit 1
}

stop_started() {  # stop the daemons whose pids this script recorded, newest first
    export SLURM_CONF="$CONF"
    if [ -e "$DIR/slurmctld.started" ]; then
        scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
        for _ in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    local name pid
    for name in slurmd slurmctld munged; do
        [ -e "$DIR/$name.started" ] || continue
        pid=$(cat "$DIR/$name.started")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            echo "stopped $name (pid $pid)"
        fi
        rm -f "$DIR/$name.started"
    done
}

case "${1:-}" in
    start)
        install_if_missing
        claim_directory
        stop_started  # leftovers of an earlier run of this script, if any
        write_configuration
        start_munge
        start_slurm
        ;;
    stop)
        [ -e "$MARK" ] && stop_started
        ;;
    env)
        echo "export SLURM_CONF=$CONF"
        ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
