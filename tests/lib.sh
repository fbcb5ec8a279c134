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
