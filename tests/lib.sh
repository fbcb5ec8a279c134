# Sourced by the shell tests (tests/mpi/*.sh, tests/e2e/*.sh): paths, Open MPI as root, a cached small
# synthetic data set in the CIFAR-10 layout, and helpers. Each test makes its own temp dir, removed on exit.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CNN_DIST:-$ROOT/build/cnn-dist}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One OpenBLAS thread per process: several processes share these 2 cores in the tests, and OpenBLAS
# threads that spin-wait for each other crawl when the cores are oversubscribed.
export OPENBLAS_NUM_THREADS=1
# Keep Open MPI quiet and local on these small machines.
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
SYNTH=${TMPDIR:-/tmp}/cnn-synth-v1
if [ ! -f "$SYNTH/test_batch.bin" ]; then
    "$ROOT/tests/tools/synth-cifar" "$SYNTH.$$" 640 200 >/dev/null
    mv "$SYNTH.$$" "$SYNTH" 2>/dev/null || rm -rf "$SYNTH.$$"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cnn-e2e-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TINY="$ROOT/configs/tiny.ini"
# configs/resnet20.ini made small for the tests: one block per stage, 16/16/32 filters (so the 3x3
# layers run Winograd where the CPU has the tiles), shortcut A in stage 2 and B in stage 3, batches of
# 24 in micro-shards (BatchNorm groups) of 4, on the synthetic set
RES="$ROOT/configs/resnet20.ini"
RES_SMALL="--set conv1.filters=16 --set stage1.filters=16 --set stage2.filters=16 --set stage3.filters=32
 --set stage1.repeat=1 --set stage2.repeat=1 --set stage3.repeat=1 --set stage3.shortcut=B
 --set train.batch=24 --set train.micro_batch=4 --set train.log_every=2 --set train.eval_every=0
 --set train.checkpoint_every=3 --set train.boundaries=3,5 --set data.prefetch=1 --set data.train=data_batch_1.bin"
# configs/airbench94.ini made small (tests/mpi/airbench.sh): 16/32/32 filters, batches of 48 in BatchNorm
# groups of 8, whitening from 100 images, 5.5 epochs of 13 whole batches on data_batch_1.bin's 640 images
# (72 steps), lookahead from epoch 1 every 2 steps, the whitening bias trained in epochs 0-1
AB="$ROOT/configs/airbench94.ini"
AB_SMALL="--set b1_conv1.filters=16 --set b1_conv2.filters=16 --set b2_conv1.filters=32 --set b2_conv2.filters=32
 --set b3_conv1.filters=32 --set b3_conv2.filters=32 --set train.batch=48 --set train.micro_batch=8
 --set train.eval_batch=8 --set data.train=data_batch_1.bin --set whiten.whiten_images=100
 --set train.epochs=5.5 --set train.log_every=2 --set train.eval_every=0 --set train.lookahead_start=1
 --set train.lookahead_every=2 --set whiten.train_until_epoch=2"

# run NP [cnn-dist args...]: cnn-dist on NP ranks (1 = no mpirun), tiny config on the synthetic data.
run() {
    np=$1
    shift
    if [ "$np" -le 1 ]; then
        "$BIN" --set data.dir="$SYNTH" "$@"
    else
        mpirun -np "$np" --oversubscribe --bind-to none "$BIN" --set data.dir="$SYNTH" "$@"
    fi
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The "final parameter hash" line of a run's output.
param_hash() { grep -o 'parameter hash [0-9a-f]*' "$1" | tail -n 1 | awk '{print $3}'; }

# wait_for FILE PATTERN: until a line of FILE matches PATTERN. A bound against hangs only (120 s, then
# FILE and a failure): the tests wait for what a run writes, never for a time.
wait_for() {
    _deadline=$(($(date +%s) + 120))
    while ! grep -q "$2" "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt $_deadline ] || { cat "$1"; fail "timed out waiting for '$2'"; }
        sleep 0.05
    done
}

# rank_pid N: the pid of MPI rank N of this test's job (a cnn-dist whose command line names $WORK).
rank_pid() {
    for _p in $(pgrep -f "cnn-dist.*$WORK"); do
        if tr '\0' '\n' <"/proc/$_p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then echo "$_p"; fi
    done
}

# wait_end PID SECONDS WHAT: waits for the background job PID to end; if it still runs after SECONDS,
# kills it and fails with "WHAT". Then JOB_RC is its exit status and JOB_SECONDS how long it took (for
# messages: SECONDS is a bound against hangs only, given generously since a loaded machine is slow, and
# no test asserts a lower bound or a window on the time).
wait_end() {
    _start=$(date +%s)
    _deadline=$((_start + $2))
    while kill -0 "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt $_deadline ] || { kill -9 "$1" 2>/dev/null; fail "$3"; }
        sleep 0.1
    done
    JOB_RC=0
    wait "$1" || JOB_RC=$?
    JOB_SECONDS=$(($(date +%s) - _start))
}
