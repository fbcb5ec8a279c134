# train.epochs instead of train.steps: on the synthetic set (640 training images, batch 32) 0.5 epochs
# is ceil(0.5 * 640 / 32) = 10 steps and 0.51 is ceil(10.2) = 11, said in the start line; 10 steps by
# epochs are bitwise the 10 steps of train.steps = 10. A checkpoint of a run that gave steps resumes
# under epochs (on another rank count), and one that gave epochs (its stored config has no steps)
# resumes under more epochs, each bitwise equal to an uninterrupted run. Giving both, or neither, is an
# error naming the line.
. "$(dirname "$0")/../lib.sh"
c="--set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0 --set train.micro_batch=4"
sed '/^steps = /d' "$TINY" >"$WORK/epochs.ini"
! grep -q '^steps' "$WORK/epochs.ini" || fail "epochs.ini still has steps"

# shellcheck disable=SC2086
run 1 $c --set train.steps=10 --set run.out_dir="$WORK/s10" "$TINY" >"$WORK/s10.log" 2>&1 || { cat "$WORK/s10.log"; fail "10 steps"; }
# shellcheck disable=SC2086
run 1 $c --set train.steps=15 --set run.out_dir="$WORK/s15" "$TINY" >"$WORK/s15.log" 2>&1 || { cat "$WORK/s15.log"; fail "15 steps"; }
h10=$(param_hash "$WORK/s10.log")
h15=$(param_hash "$WORK/s15.log")
[ -n "$h10" ] && [ -n "$h15" ] && [ "$h10" != "$h15" ] || fail "parameter hashes: '$h10', '$h15'"

# 0.5 epochs: 10 steps, the same parameters as train.steps = 10
# shellcheck disable=SC2086
run 1 $c --set train.epochs=0.5 --set run.out_dir="$WORK/e05" "$WORK/epochs.ini" >"$WORK/e05.log" 2>&1 ||
    { cat "$WORK/e05.log"; fail "train.epochs = 0.5"; }
grep -q 'global batch 32, 10 steps (train.epochs = 0.5 of 640 images)' "$WORK/e05.log" ||
    { cat "$WORK/e05.log"; fail "the start line does not give the derived step count"; }
[ "$(grep -c '^step [0-9]*/10 ' "$WORK/e05.log")" -eq 10 ] || { cat "$WORK/e05.log"; fail "0.5 epochs: not 10 steps"; }
grep -q '^step 10/10 ' "$WORK/e05.log" && [ -f "$WORK/e05/ckpt-10.h5" ] || fail "0.5 epochs: no step 10 or no ckpt-10"
[ "$(param_hash "$WORK/e05.log")" = "$h10" ] || fail "0.5 epochs gives $(param_hash "$WORK/e05.log"), 10 steps $h10"

# a fraction of a batch rounds up: 0.51 * 640 / 32 = 10.2 -> 11 steps
# shellcheck disable=SC2086
run 1 $c --set train.epochs=0.51 --set run.out_dir="$WORK/e051" "$WORK/epochs.ini" >"$WORK/e051.log" 2>&1 ||
    { cat "$WORK/e051.log"; fail "train.epochs = 0.51"; }
grep -q ', 11 steps (train.epochs = 0.51 of 640 images)' "$WORK/e051.log" || { cat "$WORK/e051.log"; fail "0.51: start line"; }
[ "$(grep -c '^step [0-9]*/11 ' "$WORK/e051.log")" -eq 11 ] || { cat "$WORK/e051.log"; fail "0.51 epochs: not 11 steps"; }

# a checkpoint of train.steps = 6 (2 ranks), resumed under train.epochs = 0.5 on 3 ranks: = 10 steps
# shellcheck disable=SC2086
run 2 $c --set train.steps=6 --set run.out_dir="$WORK/r" "$TINY" >"$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; fail "6 steps"; }
# shellcheck disable=SC2086
run 3 $c --set train.epochs=0.5 --set run.out_dir="$WORK/r" --resume latest "$WORK/epochs.ini" >"$WORK/r2.log" 2>&1 ||
    { cat "$WORK/r2.log"; fail "resume a steps checkpoint under epochs"; }
grep -q 'resumed from step 6' "$WORK/r2.log" || { cat "$WORK/r2.log"; fail "did not resume from step 6"; }
[ "$(param_hash "$WORK/r2.log")" = "$h10" ] || fail "6 steps + resume to 0.5 epochs gives $(param_hash "$WORK/r2.log"), 10 steps $h10"

# the 0.5-epoch checkpoint (its stored config gives epochs, no steps) resumed to 0.75 epochs = 15 steps
# shellcheck disable=SC2086
run 1 $c --set train.epochs=0.75 --set run.out_dir="$WORK/e05" --resume latest "$WORK/epochs.ini" >"$WORK/e075.log" 2>&1 ||
    { cat "$WORK/e075.log"; fail "resume an epochs checkpoint"; }
grep -q 'resumed from step 10' "$WORK/e075.log" || { cat "$WORK/e075.log"; fail "did not resume from step 10"; }
[ "$(param_hash "$WORK/e075.log")" = "$h15" ] || fail "0.5 + resume to 0.75 epochs gives $(param_hash "$WORK/e075.log"), 15 steps $h15"
# and fewer epochs than the checkpoint has: nothing to train, said
# shellcheck disable=SC2086
run 1 $c --set train.epochs=0.25 --set run.out_dir="$WORK/e05" --resume latest "$WORK/epochs.ini" >"$WORK/e025.log" 2>&1 ||
    { cat "$WORK/e025.log"; fail "resume past train.epochs"; }
grep -q 'train.epochs gives 5 steps: nothing left to train' "$WORK/e025.log" || { cat "$WORK/e025.log"; fail "no message"; }

# both, or neither: an error naming where, exit 1, nothing trained
rc=0
run 1 --set train.epochs=0.5 --set run.out_dir="$WORK/both" "$TINY" >"$WORK/both.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "steps and epochs together: exit $rc"
grep -q -- '--set train.epochs=0.5: steps and epochs are both given' "$WORK/both.log" || { cat "$WORK/both.log"; fail "both: message"; }
rc=0
run 1 --set run.out_dir="$WORK/neither" "$WORK/epochs.ini" >"$WORK/neither.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "neither steps nor epochs: exit $rc"
line=$(grep -n '^\[train\]' "$WORK/epochs.ini" | cut -d: -f1)
grep -q "epochs.ini:$line: \[train\] needs 'steps' or 'epochs'" "$WORK/neither.log" || { cat "$WORK/neither.log"; fail "neither: message"; }
[ ! -e "$WORK/both" ] && [ ! -e "$WORK/neither" ] || fail "a refused config wrote its out_dir"
echo "epochs: 0.5 -> 10 steps ($h10), 0.51 -> 11; resumes from steps and from epochs exact"
