#!/bin/sh
# tcp-links.sh [BUILD]: the gradient allreduce over TCP between two hosts, with links shaped like real
# ones. Two network namespaces of tests/cluster/lib/netns.sh, one rank on each (one thread), train the
# CIFAR-10 network for BENCH_STEPS (default 30) with `--bench` on a veth pair left as it is, then shaped
# by `tc` (token bucket, both directions) to 10 Gbit/s and to 1 Gbit/s, in deterministic mode (int64
# sums), fast mode with buckets overlapped with backward, and fast mode with one blocking allreduce
# (train.bucket_kb=0). Prints one row per run: images/s, the blocking allreduce of the whole gradient
# alone, what was left waiting after backward. Needs root. The ranks share this machine's cores, as
# ranks on two real nodes would not: compare the rows with each other, not with `make bench`.
set -eu
build=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/$build/cnn-dist
steps=${BENCH_STEPS:-30}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
. "$ROOT/tests/cluster/lib/netns.sh"
data=$ROOT/data/cifar-10-batches-bin
trainset=""
if [ ! -f "$data/test_batch.bin" ]; then
    data=$ROOT/$build/bench-data
    [ -f "$data/test_batch.bin" ] || "$ROOT/tests/tools/synth-cifar" "$data" 2560 200 >/dev/null
    trainset="--set data.train=data_batch_1.bin"
fi
log=$ROOT/$build/tcp-links.log
: >"$log"
trap cluster_down EXIT
trap 'exit 1' INT TERM
cluster_up 2

shape() { # shape RATE|none
    for h in $CLUSTER_PREFIX-h1 $CLUSTER_PREFIX-h2; do
        tc -n "$h" qdisc del dev eth0 root 2>/dev/null || true
        # a token bucket at RATE whose burst is 1 ms of it, so a step's idle time buys no free megabytes
        # (netem's delay is not in every kernel; veth's own latency is ~10 us)
        case $1 in none) ;; 10gbit) burst=1250kb ;; *) burst=125kb ;; esac
        [ "$1" = none ] || tc -n "$h" qdisc add dev eth0 root tbf rate "$1" burst "$burst" latency 20ms
    done
}

printf '%-8s %-34s %9s %14s %16s\n' link mode "images/s" "blocking ms" "waiting ms/step"
for link in none 10gbit 1gbit; do
    shape "$link"
    for mode in "deterministic|--set train.deterministic=true" \
        "fast, 1 MB buckets overlapped|--set train.deterministic=false" \
        "fast, one blocking allreduce|--set train.deterministic=false --set train.bucket_kb=0"; do
        name=${mode%%|*}
        # shellcheck disable=SC2086
        out=$(cluster_mpirun $CLUSTER_PREFIX-h1:1,$CLUSTER_PREFIX-h2:1 -np 2 --bind-to none "$BIN" \
            --bench "$steps" --set run.threads=1 ${mode#*|} --set data.dir="$data" $trainset \
            "$ROOT/configs/cifar10.ini" 2>&1) || { printf '%s\n' "$out"; exit 1; }
        printf '== link %s, %s\n%s\n' "$link" "$name" "$out" >>"$log"
        ips=$(printf '%s\n' "$out" | sed -n 's/.*img_per_s=\([0-9.]*\).*/\1/p')
        blk=$(printf '%s\n' "$out" | sed -n 's/^allreduce of the .* alone: \([0-9.]*\) ms/\1/p')
        wait=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9.]*\) ms\/step \(after backward\|left waiting\).*/\1/p')
        printf '%-8s %-34s %9s %14s %16s\n' "$link" "$name" "$ips" "$blk" "${wait:--}"
    done
done
echo "(full output: $log)"
