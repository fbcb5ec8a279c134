# Exact continuation: 16 steps in one go, versus 6 steps on 2 ranks + resume to 16 on 3 ranks, versus
# 6 on 1 rank + resume on 1 rank: bitwise the same parameters. Metrics hold each step once. A corrupt
# newest checkpoint is skipped by --resume latest; a config whose network or recipe differs is refused,
# one whose learning rate differs is not; a new run
# refuses an out_dir that has checkpoints; --eval gives the same answer on 1 and 2 ranks and reads
# only the parameters (another optimizer's checkpoint evaluates); --bench
# --resume times steps from a checkpoint and writes nothing.
. "$(dirname "$0")/../lib.sh"
c="--set train.log_every=2 --set train.eval_every=0 --set train.checkpoint_every=2 --set train.micro_batch=4"
# shellcheck disable=SC2086
run 1 $c --set train.steps=16 --set run.out_dir="$WORK/full" "$TINY" >"$WORK/full.log" 2>&1 || { cat "$WORK/full.log"; fail "full run"; }
want=$(param_hash "$WORK/full.log")

# shellcheck disable=SC2086
run 2 $c --set train.steps=6 --set run.out_dir="$WORK/a" "$TINY" >"$WORK/a1.log" 2>&1 || fail "first half on 2 ranks"
# shellcheck disable=SC2086
run 3 $c --set train.steps=16 --set run.out_dir="$WORK/a" --resume latest "$TINY" >"$WORK/a2.log" 2>&1 ||
    { cat "$WORK/a2.log"; fail "resume on 3 ranks"; }
grep -q 'resumed from step 6' "$WORK/a2.log" || fail "did not resume from step 6"
got=$(param_hash "$WORK/a2.log")
[ "$got" = "$want" ] || fail "2 ranks to 6 + 3 ranks to 16 gives $got, uninterrupted $want"

# shellcheck disable=SC2086
run 1 $c --set train.steps=6 --set run.out_dir="$WORK/b" "$TINY" >/dev/null 2>&1 || fail "first half on 1 rank"
# shellcheck disable=SC2086
run 1 $c --set train.steps=16 --set run.out_dir="$WORK/b" --resume "$WORK/b/ckpt-6.h5" "$TINY" >"$WORK/b2.log" 2>&1 ||
    fail "resume by path"
[ "$(param_hash "$WORK/b2.log")" = "$want" ] || fail "1 rank resumed differs"

# metrics: each logged step once, in order
/usr/bin/python3 - "$WORK/a/metrics.h5" <<'PY' || fail "metrics after resume"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    steps = list(f["/train/step"][:])
    assert steps == [2, 4, 6, 8, 10, 12, 14, 16], steps
    assert len(f["/eval/step"]) == 2, list(f["/eval/step"][:])  # the end of each part
PY

# train.ema: training is the same with it; the average continues exactly too (1 rank to 16 against 2
# ranks to 6 + 3 ranks to 16), and is what --eval uses unless --raw. A checkpoint without an average,
# resumed with train.ema, starts the average there.
ema_hash() { grep -o 'averaged parameters hash [0-9a-f]*' "$1" | tail -n 1 | awk '{print $4}'; }
# shellcheck disable=SC2086
run 1 $c --set train.ema=0.9 --set train.steps=16 --set run.out_dir="$WORK/m1" "$TINY" >"$WORK/m1.log" 2>&1 ||
    { cat "$WORK/m1.log"; fail "ema run"; }
# shellcheck disable=SC2086
run 2 $c --set train.ema=0.9 --set train.steps=6 --set run.out_dir="$WORK/m2" "$TINY" >/dev/null 2>&1 || fail "ema to 6"
# shellcheck disable=SC2086
run 3 $c --set train.ema=0.9 --set train.steps=16 --set run.out_dir="$WORK/m2" --resume latest "$TINY" \
    >"$WORK/m2.log" 2>&1 || { cat "$WORK/m2.log"; fail "ema resume on 3 ranks"; }
grep -q 'resumed from step 6 .*with its averaged parameters' "$WORK/m2.log" || fail "the average was not resumed"
[ "$(param_hash "$WORK/m1.log")" = "$want" ] || fail "train.ema changed the training"
[ -n "$(ema_hash "$WORK/m1.log")" ] && [ "$(ema_hash "$WORK/m2.log")" = "$(ema_hash "$WORK/m1.log")" ] ||
    fail "averaged parameters: uninterrupted $(ema_hash "$WORK/m1.log"), resumed $(ema_hash "$WORK/m2.log")"
[ "$(ema_hash "$WORK/m1.log")" != "$want" ] || fail "the average equals the parameters"
grep -q 'eval step 16: .*averaged parameters)' "$WORK/m1.log" || fail "evaluation does not say it used the average"
run 1 --eval "$WORK/m1/ckpt-16.h5" "$TINY" 2>&1 | grep -q 'averaged parameters; --raw' || fail "--eval not on the average"
run 1 --eval "$WORK/m1/ckpt-16.h5" --raw "$TINY" 2>&1 | grep -q 'trained parameters)' || fail "--eval --raw"
# shellcheck disable=SC2086
run 1 $c --set train.steps=4 --set run.out_dir="$WORK/m3" "$TINY" >/dev/null 2>&1 || fail "no-ema run"
# shellcheck disable=SC2086
run 1 $c --set train.ema=0.9 --set train.steps=6 --set run.out_dir="$WORK/m3" --resume latest "$TINY" \
    >"$WORK/m3.log" 2>&1 || { cat "$WORK/m3.log"; fail "ema from a checkpoint without one"; }
grep -q 'holds no averaged parameters: train.ema.s average starts here' "$WORK/m3.log" || fail "no notice"
[ -n "$(ema_hash "$WORK/m3.log")" ] || fail "no average after resuming a checkpoint without one"

# a corrupt newest checkpoint is skipped (named), the previous one is taken
cp -r "$WORK/a" "$WORK/c"
size=$(stat -c %s "$WORK/c/ckpt-16.h5")
truncate -s $((size / 2)) "$WORK/c/ckpt-16.h5"
# shellcheck disable=SC2086
run 1 $c --set train.steps=16 --set run.out_dir="$WORK/c" --resume latest "$TINY" >"$WORK/c.log" 2>&1 ||
    { cat "$WORK/c.log"; fail "resume past a corrupt checkpoint"; }
grep -q 'skipping checkpoint .*ckpt-16.h5' "$WORK/c.log" || { cat "$WORK/c.log"; fail "corrupt checkpoint not named"; }
grep -q 'resumed from step 14' "$WORK/c.log" || fail "did not fall back to step 14"
[ "$(param_hash "$WORK/c.log")" = "$want" ] || fail "resume from 14 differs"

# a different network is refused, with the reason
rc=0
# shellcheck disable=SC2086
run 1 $c --set train.steps=20 --set fc1.units=16 --set run.out_dir="$WORK/a" --resume latest "$TINY" >"$WORK/d.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'network .* differs' "$WORK/d.log" || { cat "$WORK/d.log"; fail "mismatching network not refused"; }
# so is a different seed; steps and intervals may change (done above)
rc=0
# shellcheck disable=SC2086
run 1 $c --set train.steps=20 --set run.seed=5 --set run.out_dir="$WORK/a" --resume latest "$TINY" >"$WORK/e.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'run.seed' "$WORK/e.log" || { cat "$WORK/e.log"; fail "different seed not refused"; }
# so is an optimizer setting (a RECIPE key, config.h), and the message lists the keys that may change
rc=0
# shellcheck disable=SC2086
run 1 $c --set train.steps=20 --set train.beta1=0.8 --set run.out_dir="$WORK/a" --resume latest "$TINY" >"$WORK/g.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'train.beta1 differs .* may change on resume: .*train.lr' "$WORK/g.log" ||
    { cat "$WORK/g.log"; fail "different beta1 not refused"; }
# the learning rate (a TUNABLE key) may change
cp -r "$WORK/a" "$WORK/h"
# shellcheck disable=SC2086
run 1 $c --set train.steps=18 --set train.lr=5e-4 --set run.out_dir="$WORK/h" --resume latest "$TINY" >"$WORK/h.log" 2>&1 ||
    { cat "$WORK/h.log"; fail "resume with another learning rate"; }
grep -q 'resumed from step 16' "$WORK/h.log" || fail "lr change: did not resume from step 16"
# a fresh run does not overwrite checkpoints
rc=0
# shellcheck disable=SC2086
run 1 $c --set train.steps=4 --set run.out_dir="$WORK/a" "$TINY" >"$WORK/f.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'already holds checkpoints' "$WORK/f.log" || { cat "$WORK/f.log"; fail "fresh run over checkpoints"; }

# --eval on 1 and 2 ranks. --eval prints its result only as text (4 decimals, no hash), so the whole
# result is compared: loss, accuracy and image count (of 200 images the accuracy is k/200, which 4
# decimals give exactly). The evaluation's bits are compared across rank counts in rank_invariance.sh.
eval_result() { grep -o 'test loss [0-9.]*  test accuracy [0-9.]* ([0-9]* images' "$1"; }
run 1 --eval "$WORK/a/ckpt-16.h5" "$TINY" >"$WORK/e1.log" 2>&1 || { cat "$WORK/e1.log"; fail "--eval"; }
run 2 --eval "$WORK/a/ckpt-16.h5" "$TINY" >"$WORK/e2.log" 2>&1 || fail "--eval on 2 ranks"
a1=$(eval_result "$WORK/e1.log")
a2=$(eval_result "$WORK/e2.log")
[ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "--eval: '$a1' vs '$a2'"
# and it is the evaluation at the end of the run that wrote the checkpoint (its values in metrics.h5,
# printed as --eval prints them)
trained=$(/usr/bin/python3 - "$WORK/a/metrics.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f["eval/step"][-1] == 16, f["eval/step"][()]
    print("test loss %.4f  test accuracy %.4f" % (f["eval/loss"][-1], f["eval/accuracy"][-1]))
PY
) || fail "metrics.h5 of the run to 16 has no evaluation at 16"
[ "$a1" = "$trained (200 images" ] || fail "--eval of ckpt-16: '$a1'; the training's evaluation at 16: '$trained'"

# --eval reads the parameters only: a checkpoint trained with another optimizer (set on the command
# line) evaluates under the config as it is, with the same answer as under the training's settings
# shellcheck disable=SC2086
run 1 $c --set train.steps=4 --set train.optimizer=sgd --set train.momentum=0.9 --set run.out_dir="$WORK/sgd" "$TINY" \
    >"$WORK/sgd.log" 2>&1 || { cat "$WORK/sgd.log"; fail "sgd run"; }
run 1 --eval "$WORK/sgd/ckpt-4.h5" "$TINY" >"$WORK/e3.log" 2>&1 || { cat "$WORK/e3.log"; fail "--eval of an sgd checkpoint under adam"; }
run 1 --eval "$WORK/sgd/ckpt-4.h5" --set train.optimizer=sgd --set train.momentum=0.9 "$TINY" >"$WORK/e4.log" 2>&1 ||
    fail "--eval of an sgd checkpoint"
a3=$(eval_result "$WORK/e3.log")
a4=$(eval_result "$WORK/e4.log")
[ -n "$a3" ] && [ "$a3" = "$a4" ] || fail "--eval of an sgd checkpoint: '$a3' under adam, '$a4' under sgd"

# resuming a run that is already past train.steps trains nothing and says so (exit 0)
run 1 --set train.steps=4 --set run.out_dir="$WORK/a" --set train.micro_batch=4 --resume latest "$TINY" >"$WORK/g.log" 2>&1 ||
    { cat "$WORK/g.log"; fail "resume past train.steps"; }
grep -q 'nothing left to train' "$WORK/g.log" || { cat "$WORK/g.log"; fail "resume past train.steps: no message"; }

# --bench from a checkpoint: times steps after step 16 on 2 ranks, writes nothing
before=$(ls "$WORK/a" | sort | tr '\n' ' ')
msum=$(md5sum <"$WORK/a/metrics.h5")
run 2 --bench 3 --set train.micro_batch=4 --set run.out_dir="$WORK/a" --resume latest "$TINY" >"$WORK/h.log" 2>&1 ||
    { cat "$WORK/h.log"; fail "--bench --resume"; }
grep -q 'resumed from step 16' "$WORK/h.log" && grep -q '^bench-summary ranks=2 ' "$WORK/h.log" ||
    { cat "$WORK/h.log"; fail "--bench --resume: no resume or no summary"; }
[ "$(ls "$WORK/a" | sort | tr '\n' ' ')" = "$before" ] && [ "$(md5sum <"$WORK/a/metrics.h5")" = "$msum" ] ||
    fail "--bench --resume wrote into out_dir"

# the checkpoint records what trained it, and a resume on other kernels says what that means: on a lower
# instruction set with the same kernels it continues bit for bit; on other kernels it continues, and says
# it is no longer bit for bit
# shellcheck disable=SC2086
run 1 $c --set train.steps=6 --set run.out_dir="$WORK/k" "$TINY" >/dev/null 2>&1 || fail "6 steps for the kernel checks"
/usr/bin/python3 - "$WORK/k/ckpt-6.h5" <<'PY' || fail "checkpoint attributes isa, kernels, openblas_core"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["isa"] in ("generic", "avx2", "avx512"), f.attrs["isa"]
    assert f.attrs["kernels"].startswith("conv1 "), f.attrs["kernels"]
    assert len(f.attrs["openblas_core"]) > 0
PY
isa=$(/usr/bin/python3 -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r").attrs["isa"])' "$WORK/k/ckpt-6.h5")
if [ "$isa" = avx512 ]; then
    # shellcheck disable=SC2086
    CNN_ISA=avx2 run 2 $c --set train.steps=16 --set run.out_dir="$WORK/i" --resume "$WORK/k/ckpt-6.h5" "$TINY" \
        >"$WORK/i.log" 2>&1 || { cat "$WORK/i.log"; fail "resume on avx2"; }
    grep -q 'trained on avx512 and continues here on avx2 bit for bit' "$WORK/i.log" ||
        { cat "$WORK/i.log"; fail "resume on avx2: no message"; }
    [ "$(param_hash "$WORK/i.log")" = "$want" ] || fail "resume on avx2 is not bit for bit"
else
    echo "SKIPPED: resume from an avx512 checkpoint on avx2 (this CPU runs $isa)"
fi
# shellcheck disable=SC2086
run 1 $c --set train.steps=16 --set run.conv=gemm --set run.out_dir="$WORK/j" --resume "$WORK/k/ckpt-6.h5" "$TINY" \
    >"$WORK/j.log" 2>&1 || { cat "$WORK/j.log"; fail "resume on other kernels"; }
grep -q 'was trained with the kernels \[.*\] and this run uses \[.*\]: training continues from it, but not bit for bit' \
    "$WORK/j.log" || { cat "$WORK/j.log"; fail "resume on other kernels: no warning"; }

# a damaged metrics.h5 stops --resume latest with what to do (the checkpoints are fine); done, it resumes
cp -r "$WORK/k" "$WORK/m"
printf 'not an HDF5 file' >"$WORK/m/metrics.h5"
rc=0
# shellcheck disable=SC2086
run 1 $c --set train.steps=8 --set run.out_dir="$WORK/m" --resume latest "$TINY" >"$WORK/m.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "move the damaged one aside (mv $WORK/m/metrics.h5 $WORK/m/metrics.h5.damaged) and resume again" \
    "$WORK/m.log" || { cat "$WORK/m.log"; fail "damaged metrics.h5: exit $rc, no hint"; }
mv "$WORK/m/metrics.h5" "$WORK/m/metrics.h5.damaged"
# shellcheck disable=SC2086
run 1 $c --set train.steps=8 --set run.out_dir="$WORK/m" --resume latest "$TINY" >"$WORK/m2.log" 2>&1 ||
    { cat "$WORK/m2.log"; fail "resume after moving the damaged metrics aside"; }
grep -q 'resumed from step 6' "$WORK/m2.log" || fail "did not resume from step 6"

# junk named like a checkpoint neither counts towards keep nor is removed: three good ones stay
printf 'junk' >"$WORK/m/ckpt-7.h5"
printf 'junk' >"$WORK/m/ckpt-100.h5"
# shellcheck disable=SC2086
run 1 $c --set train.steps=14 --set train.keep=3 --set run.out_dir="$WORK/m" --resume "$WORK/m/ckpt-8.h5" "$TINY" \
    >"$WORK/m3.log" 2>&1 || { cat "$WORK/m3.log"; fail "run beside junk checkpoints"; }
[ "$(cd "$WORK/m" && ls ckpt-*.h5 | sort -t- -k2 -n | tr '\n' ' ')" = "ckpt-7.h5 ckpt-10.h5 ckpt-12.h5 ckpt-14.h5 ckpt-100.h5 " ] ||
    { ls "$WORK/m"; fail "junk checkpoints counted towards keep"; }
