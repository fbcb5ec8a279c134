# An exploding run (train.lr = 1e30) stops with exit 3 on every rank, naming the step and the tensor, on
# 1 and 2 ranks: the fixed-point sums of values far past their bounds wrap instead of overflowing (signed
# overflow was undefined behaviour, which UBSan turned into exit 1: make asan runs this on its build).
. "$(dirname "$0")/../lib.sh"
for np in 1 2; do
    rc=0
    run $np --set train.lr=1e30 --set train.steps=50 --set train.eval_every=0 --set run.out_dir="$WORK/nan$np" "$TINY" \
        >"$WORK/nan$np.log" 2>&1 || rc=$?
    [ $rc -eq 3 ] || { cat "$WORK/nan$np.log"; fail "$np rank(s): exit $rc, want 3"; }
    grep -q 'NaN or Inf in the .* at step [0-9]*; stopping' "$WORK/nan$np.log" ||
        { cat "$WORK/nan$np.log"; fail "$np rank(s): no step or tensor named"; }
    ! grep -q 'runtime error' "$WORK/nan$np.log" || { cat "$WORK/nan$np.log"; fail "$np rank(s): a sanitizer report"; }
done
