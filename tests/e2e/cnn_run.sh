# scripts/cnn-run (what `make run` uses): one rank per core with one OpenBLAS thread each, and
# --resume latest continues an interrupted run instead of refusing its out_dir.
. "$(dirname "$0")/../lib.sh"
unset OPENBLAS_NUM_THREADS
args="--set data.dir=$SYNTH --set train.micro_batch=4 --set train.eval_every=0 --set run.out_dir=$WORK/run"
# shellcheck disable=SC2086
CNN_DIST="$BIN" CNN_RANKS=2 "$ROOT/scripts/cnn-run" "$TINY" $args --set train.steps=6 --resume latest >"$WORK/a.log" 2>&1 ||
    { cat "$WORK/a.log"; fail "cnn-run failed"; }
grep -q '2 ranks x 1 OpenBLAS thread' "$WORK/a.log" || { cat "$WORK/a.log"; fail "cnn-run: want 2 ranks x 1 thread"; }
grep -q 'no checkpoint in' "$WORK/a.log" || fail "cnn-run: a first run should say it starts from step 0"
# shellcheck disable=SC2086
CNN_DIST="$BIN" CNN_RANKS=2 "$ROOT/scripts/cnn-run" "$TINY" $args --set train.steps=12 --resume latest >"$WORK/b.log" 2>&1 ||
    { cat "$WORK/b.log"; fail "cnn-run second run failed"; }
grep -q 'resumed from step 6' "$WORK/b.log" || { cat "$WORK/b.log"; fail "cnn-run did not continue"; }
