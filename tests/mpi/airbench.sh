# configs/airbench94.ini made small (lib.sh's AB_SMALL: 16/32/32 filters, batches of 48 in BatchNorm groups
# of 8, 640 synthetic images: 13 whole batches an epoch, 5.5 epochs = 72 steps; lookahead from epoch 1
# every 2 steps, the whitening bias trained in epochs 0-1): whitening init, the frozen whitening weights, lookahead,
# label smoothing, alternating flips, lr_scale, the linear schedule and TTA in one run. Bitwise the same
# parameters on 1, 2, 3, 4 and 8 ranks, with the kernels capped at AVX2, and across a resume in the middle
# of epoch 1 (lookahead's copy in the checkpoint, the bias still training, flips reversed); each piece
# changes the result when it is turned off; the whitening weights stay as initialised. Under the sanitizers
# (make asan sets CNN_TEST_LIGHT=1: a step is 15 times slower there) 1, 2 and 3 ranks, and the pieces are
# not turned off one by one: the same code paths, already run.
. "$(dirname "$0")/../lib.sh"
small="$AB_SMALL --set train.checkpoint_every=11 --set train.keep=10"
# shellcheck disable=SC2086
run 1 $small --set run.out_dir="$WORK/r1" "$AB" >"$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; fail "1 rank"; }
want=$(param_hash "$WORK/r1.log")
[ -n "$want" ] || { cat "$WORK/r1.log"; fail "no parameter hash"; }
grep -q '72 steps (train.epochs = 5.5' "$WORK/r1.log" || { head -3 "$WORK/r1.log"; fail "5.5 epochs of 13 whole batches are not 72 steps"; }
grep -q 'with TTA level 2: test loss' "$WORK/r1.log" || fail "no TTA evaluation at the end"
grep -q '^done: 72 steps, test accuracy [0-9.]*, [0-9.]* with TTA level 2' "$WORK/r1.log" || fail "no final line"
nps="2 3 4 8"
[ "${CNN_TEST_LIGHT:-0}" = 1 ] && nps="2 3"
for np in $nps; do
    # shellcheck disable=SC2086
    run $np $small --set run.out_dir="$WORK/r$np" "$AB" >"$WORK/r$np.log" 2>&1 || { cat "$WORK/r$np.log"; fail "$np ranks"; }
    [ "$(param_hash "$WORK/r$np.log")" = "$want" ] || fail "$np ranks: $(param_hash "$WORK/r$np.log"), 1 rank: $want"
done
if grep -q avx512f /proc/cpuinfo && [ "${CNN_ISA:-}" != avx2 ] && [ "${CNN_ISA:-}" != generic ]; then
    # shellcheck disable=SC2086
    CNN_ISA=avx2 run 2 $small --set run.out_dir="$WORK/a2" "$AB" >"$WORK/a2.log" 2>&1 || { cat "$WORK/a2.log"; fail "CNN_ISA=avx2"; }
    [ "$(param_hash "$WORK/a2.log")" = "$want" ] || fail "AVX2: $(param_hash "$WORK/a2.log"), AVX-512: $want"
else
    echo "SKIPPED: airbench.sh AVX2 against AVX-512 (no AVX-512 here, or CNN_ISA caps it)"
fi
# step 22: epoch 1 (reversed flips), lookahead running, the whitening bias still training
mkdir "$WORK/res"
cp "$WORK/r1/ckpt-22.h5" "$WORK/res/"
# shellcheck disable=SC2086
run 2 $small --set run.out_dir="$WORK/res" --resume latest "$AB" >"$WORK/res.log" 2>&1 || { cat "$WORK/res.log"; fail "resume"; }
grep -q 'resumed from step 22' "$WORK/res.log" || fail "did not resume from step 22"
[ "$(param_hash "$WORK/res.log")" = "$want" ] || fail "resumed at step 22: $(param_hash "$WORK/res.log"), in one go: $want"
/usr/bin/python3 - "$WORK/r1" <<'PY' || fail "checkpoints"
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + "/ckpt-11.h5", "r") as a, h5py.File(d + "/ckpt-22.h5", "r") as b, h5py.File(d + "/ckpt-72.h5", "r") as c:
    assert "lookahead" not in a, "a lookahead copy before it started (epoch 1 starts at step 13)"
    assert "lookahead" in b and "lookahead" in c
    # frozen: the whitening weights are the same in every checkpoint; the bias moves until epoch 2 only
    w = [f["params/whiten/weights"][:] for f in (a, b, c)]
    assert np.array_equal(w[0], w[1]) and np.array_equal(w[0], w[2])
    assert np.abs(w[0]).max() > 0.5, "whitening weights look like a random init"
    bias = [f["params/whiten/biases"][:] for f in (a, b, c)]
    assert not np.array_equal(bias[0], bias[1]), "the whitening bias did not train in epoch 1"
with h5py.File(d + "/ckpt-33.h5", "r") as x, h5py.File(d + "/ckpt-44.h5", "r") as y:
    # epoch 2 on: frozen (lookahead copies it back unchanged)
    assert np.array_equal(x["params/whiten/biases"][:], y["params/whiten/biases"][:])
with h5py.File(d + "/metrics.h5", "r") as m:
    assert list(m["eval_tta/step"][:]) == [72], list(m["eval_tta/step"][:])
PY
# --eval prints both figures, equal to the training's final ones; with data.tta=0 only the plain one;
# --predict's logits with data.tta=2 are the level-2 average (not the plain logits)
CK="$WORK/r1/ckpt-72.h5"
# shellcheck disable=SC2086
run 2 --eval "$CK" $small "$AB" >"$WORK/ev.log" 2>&1 || { cat "$WORK/ev.log"; fail "--eval"; }
tr=$(grep -o 'test accuracy [0-9.]*; with TTA level 2: test loss [0-9.]*  test accuracy [0-9.]*' "$WORK/r1.log")
[ -n "$tr" ] || fail "no final evaluation with TTA in the run's log"
grep -q "$tr" "$WORK/ev.log" || { cat "$WORK/ev.log"; fail "--eval differs from the run's final evaluation ($tr)"; }
# shellcheck disable=SC2086
run 1 --eval "$CK" $small --set data.tta=0 "$AB" >"$WORK/ev0.log" 2>&1 || fail "--eval with data.tta=0"
! grep -q "with TTA" "$WORK/ev0.log" || fail "--eval with data.tta=0 still augments"
for l in 0 2; do
    # shellcheck disable=SC2086
    "$BIN" --predict "$CK" --json $small --set data.dir="$SYNTH" --set data.tta=$l "$AB" "$SYNTH/test_batch.bin" \
        >"$WORK/p$l.jsonl" 2>/dev/null || fail "--predict with data.tta=$l"
done
[ "$(wc -l <"$WORK/p2.jsonl")" = 200 ] || fail "--predict: not 200 lines"
! cmp -s "$WORK/p0.jsonl" "$WORK/p2.jsonl" || fail "--predict: data.tta=2 gave the plain logits"
# each piece moves the parameters
offs="train.lookahead=0 data.flip_mode=random whiten.init=uniform b1_bn1.lr_scale=1 train.drop_last=false"
[ "${CNN_TEST_LIGHT:-0}" = 1 ] && offs=""
for off in $offs; do
    # shellcheck disable=SC2086
    run 1 $small --set "$off" --set run.out_dir="$WORK/off" "$AB" >"$WORK/off.log" 2>&1 || { cat "$WORK/off.log"; fail "$off"; }
    [ "$(param_hash "$WORK/off.log")" != "$want" ] || fail "$off changed nothing"
    rm -rf "$WORK/off"
done
echo "airbench: the recipe's pieces bitwise on 1, $(echo $nps | sed "s/ /, /g") ranks, AVX2 and across a resume in epoch 1"
