# The same model on any number of ranks: with train.deterministic (the default), 1, 2, 3 and 4 ranks
# give bitwise the same parameters (parameter hash) after 12 steps, and so do 8, and bitwise the same
# loss curve, training accuracy and final evaluation (the float64 columns of metrics.h5, compared as
# raw bits, not as printed decimals); so do 1 and 3 ranks with the ResNet-style recipe's keys (pad,
# mean/std, Nesterov, piecewise). In fast mode (float allreduce) 1 and 2 ranks agree to float rounding.
# (8 ranks: one micro-shard each.)
. "$(dirname "$0")/../lib.sh"
# same_metrics A B: the metrics.h5 files A and B hold the same steps and bitwise the same losses and
# accuracies, of training and evaluation (not the timings)
same_metrics() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for name in ("train/step", "train/loss", "train/accuracy", "eval/step", "eval/loss", "eval/accuracy"):
    x, y = a[name][()], b[name][()]
    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
        sys.exit(f"{name}: {x.tolist()!r} in {sys.argv[1]}, {y.tolist()!r} in {sys.argv[2]}")
PY
}
common="--set train.steps=12 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0 --set train.micro_batch=4"
for np in 1 2 3 4 8; do
    # shellcheck disable=SC2086
    # 2 ranks use the automatic thread count (checked below); the others one thread (lib.sh)
    ([ $np -eq 2 ] && export OPENBLAS_NUM_THREADS=; run $np $common --set run.out_dir="$WORK/det$np" "$TINY") >"$WORK/det$np.log" 2>&1 ||
        { cat "$WORK/det$np.log"; fail "deterministic run on $np ranks failed"; }
    [ "$(grep -c '^step [0-9]*/12 .* loss [0-9.]*' "$WORK/det$np.log")" -eq 12 ] || fail "expected 12 loss lines on $np ranks"
done
/usr/bin/python3 - "$WORK/det1/metrics.h5" <<'PY' || fail "1 rank: metrics.h5 should hold steps 1 to 12 and one evaluation, at 12"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert list(f["train/step"][()]) == list(range(1, 13)), f["train/step"][()]
    assert list(f["eval/step"][()]) == [12], f["eval/step"][()]
PY
grep -q "2 ranks x 1 OpenBLAS thread" "$WORK/det2.log" || fail "2 ranks on 2 cores should get 1 OpenBLAS thread each"
h1=$(param_hash "$WORK/det1.log")
[ -n "$h1" ] || fail "no parameter hash in the 1-rank output"
for np in 2 3 4 8; do
    h=$(param_hash "$WORK/det$np.log")
    [ "$h" = "$h1" ] || fail "parameters after 12 steps differ: 1 rank $h1, $np ranks $h"
    # the loss curve and the evaluation at the end, bit for bit
    same_metrics "$WORK/det1/metrics.h5" "$WORK/det$np/metrics.h5" || fail "loss curve or evaluation on $np ranks differs from 1 rank"
done

# the ResNet-style recipe's pieces: pad-and-crop with reflection, mean/std normalisation, Nesterov
# momentum on a piecewise schedule after a warm-up: the same bits on 1 and 3 ranks
recipe="--set data.crop=0 --set data.pad=4 --set data.pad_mode=reflect --set data.standardize=false
 --set data.mean=0.4914,0.4822,0.4465 --set data.std=0.2470,0.2435,0.2616 --set train.optimizer=sgd --set train.lr=0.05
 --set train.nesterov=true --set train.lr_schedule=piecewise --set train.boundaries=4,8 --set train.decay_rate=0.2
 --set train.warmup_steps=2"
for np in 1 3; do
    # shellcheck disable=SC2086
    run $np $common $recipe --set run.out_dir="$WORK/recipe$np" "$TINY" >"$WORK/recipe$np.log" 2>&1 ||
        { cat "$WORK/recipe$np.log"; fail "the recipe's keys on $np ranks"; }
done
hr=$(param_hash "$WORK/recipe1.log")
[ -n "$hr" ] && [ "$hr" != "$h1" ] || fail "the recipe's keys: hash '$hr'"
[ "$(param_hash "$WORK/recipe3.log")" = "$hr" ] || fail "the recipe's keys: 1 rank $hr, 3 ranks $(param_hash "$WORK/recipe3.log")"
grep -q '^step 5/12 .* lr 0.05 ' "$WORK/recipe1.log" && grep -q '^step 7/12 .* lr 0.01 ' "$WORK/recipe1.log" &&
    grep -q '^step 11/12 .* lr 0.002 ' "$WORK/recipe1.log" || { cat "$WORK/recipe1.log"; fail "the piecewise rates"; }

for np in 1 2; do
    # shellcheck disable=SC2086
    run $np $common --set train.deterministic=false --set run.out_dir="$WORK/fast$np" "$TINY" \
        >"$WORK/fast$np.log" 2>&1 || { cat "$WORK/fast$np.log"; fail "fast run on $np ranks failed"; }
done
# losses agree within 1e-3 over the first 12 steps (a tolerance on the values in metrics.h5, not on a
# printed rounding, which two nearly equal numbers can fall on either side of)
/usr/bin/python3 - "$WORK/fast1/metrics.h5" "$WORK/fast2/metrics.h5" <<'PY' || fail "fast mode: 1 and 2 ranks diverge"
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for f in (a, b):
    assert list(f["train/step"][()]) == list(range(1, 13)), f["train/step"][()]
x, y = a["train/loss"][()], b["train/loss"][()]
assert max(abs(x - y)) <= 1e-3, list(zip(x.tolist(), y.tolist()))
PY
echo "rank invariance: hash $h1 on 1, 2, 3, 4 and 8 ranks"
