# Preemption: SIGUSR1 sent to ONE rank of a 2-rank job makes every rank stop at the next step boundary,
# rank 0 write a checkpoint, and the job exit 75; resuming finishes with the parameters of an
# uninterrupted run. Then SIGKILL at random instants of a job that checkpoints every step: what is left
# always resumes, the metrics file always opens, and no half-written file carries a final name.
# The interrupted runs are given far more steps than they ever reach, so no signal can come too late
# however slow or loaded the machine; each is then resumed to a goal past the step where it stopped, and
# compared with an uninterrupted run to that goal (train.steps may change on resume, and tiny.ini's
# learning rate is constant, so the goal does not change the steps before it).
. "$(dirname "$0")/../lib.sh"
c="--set train.log_every=1 --set train.eval_every=0 --set train.micro_batch=4"
long="--set train.steps=100000"
ref_hash() { # ref_hash STEPS: sets $want to the parameter hash of an uninterrupted 1-rank run of STEPS steps
    # shellcheck disable=SC2086
    run 1 $c --set train.steps="$1" --set train.checkpoint_every=0 --set run.out_dir="$WORK/ref$1" "$TINY" \
        >"$WORK/ref$1.log" 2>&1 || { cat "$WORK/ref$1.log"; fail "reference run to step $1"; }
    want=$(param_hash "$WORK/ref$1.log")
    [ -n "$want" ] || fail "no parameter hash in the reference run to step $1"
}

# shellcheck disable=SC2086
run 2 $c $long --set train.checkpoint_every=0 --set run.out_dir="$WORK/sig" "$TINY" >"$WORK/sig.log" 2>&1 &
job=$!
wait_for "$WORK/sig.log" 'step 20/'
kill -USR1 "$(rank_pid 1)"
rc=0
wait $job || rc=$?
[ $rc -eq 75 ] || { cat "$WORK/sig.log"; fail "after SIGUSR1 on rank 1 the job exited $rc, want 75"; }
stopped=$(sed -n 's/^stopped by a signal after step \([0-9]*\);.*/\1/p' "$WORK/sig.log")
[ -n "$stopped" ] && [ "$stopped" -ge 20 ] || { cat "$WORK/sig.log"; fail "no stop message, or a stop before step 20"; }
[ -f "$WORK/sig/ckpt-$stopped.h5" ] || fail "no checkpoint of step $stopped after SIGUSR1"
goal=$((stopped + 50))
# shellcheck disable=SC2086
run 2 $c --set train.steps=$goal --set train.checkpoint_every=0 --set run.out_dir="$WORK/sig" --resume latest "$TINY" \
    >"$WORK/sig2.log" 2>&1 || { cat "$WORK/sig2.log"; fail "resume after SIGUSR1"; }
grep -q "resumed from step $stopped" "$WORK/sig2.log" || fail "did not resume from step $stopped"
ref_hash $goal
[ "$(param_hash "$WORK/sig2.log")" = "$want" ] || fail "interrupted by SIGUSR1 at $stopped and resumed to $goal: parameters differ"

# SIGKILL at varying instants while checkpointing every step, five times, then finish. Each kill lands
# after the run has written a checkpoint of its own (its log says so), a few milliseconds to tens of
# milliseconds later (sometimes in the middle of the next write), and the checkpoints must advance. The
# sleep only varies the instant: on a slow machine a kill lands later, and every check holds whenever it
# lands (the runs never reach their train.steps).
newest_step() { ls "$WORK/kill"/ckpt-*.h5 2>/dev/null | sed 's/.*ckpt-\([0-9]*\)\.h5$/\1/' | sort -n | tail -n 1; }
prev=0
for i in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    run 1 $c $long --set train.checkpoint_every=1 --set train.keep=2 --set run.out_dir="$WORK/kill" --resume latest \
        "$TINY" >"$WORK/kill$i.log" 2>&1 &
    job=$!
    wait_for "$WORK/kill$i.log" '^checkpoint .*ckpt-'
    sleep "0.0$(( (i * 37) % 9 + 1 ))"
    # $job is the subshell running `run`; the process to kill is cnn-dist itself
    pkill -9 -f "cnn-dist.*run.out_dir=$WORK/kill" 2>/dev/null || true
    wait $job 2>/dev/null || true
    now=$(newest_step)
    [ -n "$now" ] && [ "$now" -gt "$prev" ] || fail "kill $i: no checkpoint past step $prev (newest: ${now:-none})"
    prev=$now
    for f in "$WORK/kill"/ckpt-*.h5; do
        [ -e "$f" ] || continue
        h5ls "$f" >/dev/null 2>&1 || fail "$f under its final name does not open after SIGKILL"
    done
    if [ -e "$WORK/kill/metrics.h5" ]; then
        h5dump -H "$WORK/kill/metrics.h5" >/dev/null 2>&1 || fail "metrics.h5 unreadable after SIGKILL"
    fi
done
goal=$((prev + 50))
# shellcheck disable=SC2086
run 1 $c --set train.steps=$goal --set train.checkpoint_every=1 --set train.keep=2 --set run.out_dir="$WORK/kill" \
    --resume latest "$TINY" >"$WORK/killend.log" 2>&1 || { cat "$WORK/killend.log"; fail "resume after SIGKILLs"; }
ref_hash $goal
[ "$(param_hash "$WORK/killend.log")" = "$want" ] || fail "after 5 SIGKILLs and resumes to step $goal the parameters differ"
/usr/bin/python3 - "$WORK/kill/metrics.h5" "$goal" <<'PY' || fail "metrics after SIGKILLs"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    s = list(f["/train/step"][:])
    assert s == sorted(set(s)), "steps repeated or out of order"
    assert s[-1] == int(sys.argv[2]), (s[-1], sys.argv[2])
PY
n=$(ls "$WORK/kill"/ckpt-*.h5 | wc -l)
[ "$n" -le 2 ] || fail "keep=2 but $n checkpoints remain"
