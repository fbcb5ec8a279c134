# A checkpoint written by the release before the model became a graph (tests/fixtures/README.md) still
# loads and resumes bit for bit: continued to step 12 on 1 and on 2 ranks, its parameters and its
# averaged parameters hash to what that release printed for the same run.
. "$(dirname "$0")/../lib.sh"
FIX="$ROOT/tests/fixtures/tiny-0.9.0-step6.h5"
want_params=6a0dcb91d56ef766
want_ema=ae47ad0195514c0a
c="--set train.log_every=2 --set train.eval_every=0 --set train.checkpoint_every=6 --set train.micro_batch=4 --set train.ema=0.9"
for np in 1 2; do
    # shellcheck disable=SC2086
    run $np $c --set train.steps=12 --set run.out_dir="$WORK/r$np" --resume "$FIX" "$TINY" >"$WORK/r$np.log" 2>&1 ||
        { cat "$WORK/r$np.log"; fail "resume of the 0.9.0 checkpoint on $np rank(s)"; }
    grep -q 'resumed from step 6 .*with its averaged parameters' "$WORK/r$np.log" || { cat "$WORK/r$np.log"; fail "not resumed from step 6"; }
    got=$(param_hash "$WORK/r$np.log")
    [ "$got" = "$want_params" ] || fail "$np rank(s): parameter hash $got, the 0.9.0 release gave $want_params"
    ema=$(grep -o 'averaged parameters hash [0-9a-f]*' "$WORK/r$np.log" | tail -n 1 | awk '{print $4}')
    [ "$ema" = "$want_ema" ] || fail "$np rank(s): averaged parameters hash $ema, the 0.9.0 release gave $want_ema"
done
# --eval reads it too
run 1 --eval "$FIX" "$TINY" >"$WORK/eval.log" 2>&1 || { cat "$WORK/eval.log"; fail "--eval of the 0.9.0 checkpoint"; }
grep -q 'test accuracy' "$WORK/eval.log" || { cat "$WORK/eval.log"; fail "--eval printed no accuracy"; }
