# A real Slurm job survives its time-limit warning: on a one-node cluster started here (root; the Slurm
# packages are installed if missing), the *installed* cifar10.sbatch (make install into a temp prefix;
# it runs the installed template.sbatch and cnn-dist, and finds tiny.ini among the installed configs)
# is submitted from outside the checkout and trains the tiny config on 2 tasks (srun --mpi=pmix). Once the job has written its first checkpoint, the warning the time limit would
# send (SIGUSR1 to the batch shell) is sent with scancel --batch. The test checks that the ranks
# checkpointed and exited 75, the script requeued the job, the restart (SLURM_RESTART_COUNT=1) resumed
# from that checkpoint, and the job finished with bitwise the parameters of an uninterrupted 1-rank
# run. Takes ~40 s, most of it Slurm's requeue delay and the two trainings.
. "$(dirname "$0")/../lib.sh"
CLUSTER_SH="$ROOT/tests/slurm/cluster.sh"
CL="$WORK/cluster"
[ "$(id -u)" -eq 0 ] || fail "needs root (it starts slurmctld, slurmd and munged)"

# Both the reference and the job: 4000 steps (~15 s on one core, ~6 s on 2 ranks) so the signal lands mid-run, a
# checkpoint every 100 steps. data.train: the cached synthetic set has one training file.
common="--set data.dir=$SYNTH --set data.train=data_batch_1.bin --set train.steps=4000
 --set train.checkpoint_every=100 --set train.log_every=100 --set train.eval_every=0"

# Always stop the daemons (and the job, if it is still there), then remove the temp dir.
trap 'sh "$CLUSTER_SH" stop "$CL" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP

sh "$CLUSTER_SH" install || fail "could not install the Slurm packages"
sh "$CLUSTER_SH" start "$CL" >"$WORK/start.log" 2>&1 ||
    { cat "$WORK/start.log"; sh "$CLUSTER_SH" logs "$CL" 30; fail "the test cluster did not start"; }
export SLURM_CONF="$CL/slurm.conf"

jid=""
# diag MSG: everything that helps to see why, then fail.
diag() {
    echo "----- job output"
    cat "$WORK"/job-*.out 2>/dev/null || echo "(none)"
    if [ -n "$jid" ]; then
        echo "----- scontrol show job $jid"
        scontrol show job "$jid" 2>&1 || true
    fi
    echo "----- files in out_dir"
    ls -l "$WORK/B" 2>&1 || true
    sh "$CLUSTER_SH" logs "$CL" 30
    fail "$*"
}

# field NAME: one field of scontrol show job (JobState, Restarts, ExitCode, ...).
field() { scontrol show job "$jid" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }

# ---- the reference: uninterrupted, 1 rank, no Slurm ----
# shellcheck disable=SC2086
"$BIN" $common --set run.out_dir="$WORK/A" "$TINY" >"$WORK/A.log" 2>&1 ||
    { cat "$WORK/A.log"; fail "reference run failed"; }
href=$(param_hash "$WORK/A.log")
[ -n "$href" ] || { cat "$WORK/A.log"; fail "no parameter hash in the reference output"; }

# ---- the job: 2 tasks with one OpenBLAS thread each, well inside the node's 2 cores ----
P=$WORK/prefix
make -s -C "$ROOT" BUILD="$(dirname "$BIN")" PREFIX="$P" install >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "make install"; }
mkdir -p "$WORK/submit"
cd "$WORK/submit" || fail "cd $WORK/submit"
jid=$(env -u CNN_DIST CNN_ARGS="$common --set run.out_dir=$WORK/B" \
    sbatch --parsable --job-name=cnn-requeue-test --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
    --time=10 --output="$WORK/job-%j.out" "$P/share/cnn-dist/slurm/cifar10.sbatch" tiny.ini 2>"$WORK/sbatch.err" |
    cut -d';' -f1) || true
[ -n "$jid" ] || { cat "$WORK/sbatch.err"; diag "sbatch failed"; }
out="$WORK/job-$jid.out"

# The warning must land mid-run: after the ranks' first checkpoint (their signal handlers are in place)
# and before their last step. No race between this shell and the training decides that: the ranks are
# frozen (SIGSTOP) to look for the checkpoint, thawed to go on when there is none yet, and once there is
# one the warning is sent to the batch shell only, as --signal=B:USR1@120 would at the time limit; the
# ranks are thawed once the SIGUSR1 that the script and srun pass on is pending in both of them. The
# job's 4000 steps (~6 s) leave this loop time enough to find them running; the bounds below only
# catch a hang.
ranks() { # the job's ranks: cnn-dist processes whose command line names its out_dir
    for p in $(pgrep -x cnn-dist); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "run.out_dir=$WORK/B " && echo "$p"
    done
    true
}
state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; } # R, S, T (stopped), ...
usr1_pending() { # usr1_pending PID: SIGUSR1 (10, bit 9) waits in PID's pending sets
    _m=$(sed -n 's/^\(Sig\|Shd\)Pnd:[[:space:]]*/0x/p' "/proc/$1/status" 2>/dev/null | tr '\n' '|')
    [ -n "$_m" ] && [ $(( (${_m}0) & 0x200 )) -ne 0 ]
}
frozen=""
thaw() { for p in $frozen; do kill -CONT "$p" 2>/dev/null || true; done; } # a failure leaves nothing frozen
trap 'thaw; sh "$CLUSTER_SH" stop "$CL" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
deadline=$(($(date +%s) + 180))
while :; do
    st=$(field JobState)
    case $st in PENDING | CONFIGURING | RUNNING) ;; *) diag "job is $st before its first checkpoint was seen" ;; esac
    [ "$(date +%s)" -lt $deadline ] || diag "no checkpoint 180 s after submission (job state $st)"
    r=$(ranks)
    if [ "$(echo "$r" | wc -w)" -eq 2 ]; then
        frozen=$r
        # shellcheck disable=SC2086
        kill -STOP $r 2>/dev/null || true
        for p in $r; do
            # until the kernel has stopped it (or it is gone, if the job ended meanwhile)
            while [ -e "/proc/$p" ] && [ "$(state "$p")" != T ]; do sleep 0.01; done
        done
        if ls "$WORK"/B/ckpt-*.h5 >/dev/null 2>&1; then break; fi
        # shellcheck disable=SC2086
        kill -CONT $r 2>/dev/null || true
        frozen=""
    fi
    sleep 0.2
done
for p in $frozen; do [ "$(state "$p")" = T ] || diag "rank $p ended before the warning could be sent"; done
stopped_ckpt=$(ls "$WORK"/B/ckpt-*.h5 | sed 's/.*ckpt-\([0-9]*\)\.h5/\1/' | sort -n | tail -n 1)
scancel --batch --signal=USR1 "$jid" || diag "scancel --batch --signal=USR1 failed"
deadline=$(($(date +%s) + 60))
for p in $frozen; do
    until usr1_pending "$p"; do
        [ "$(date +%s)" -lt $deadline ] || diag "the warning did not reach rank $p within 60 s"
        sleep 0.05
    done
done
# shellcheck disable=SC2086
kill -CONT $frozen
frozen=""

# Poll until the job has finished for good (scontrol, not sbatch --wait, which answers late). A requeued
# job passes through PENDING (Reason=BeginTime) for ~12 s before it runs again; 300 s is a bound
# against hangs only.
deadline=$(($(date +%s) + 300))
while :; do
    st=$(field JobState)
    case $st in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) break ;;
    esac
    [ "$(date +%s)" -lt $deadline ] || diag "job not finished 300 s after the signal (state $st)"
    sleep 0.2
done

# ---- the checks ----
[ "$st" = COMPLETED ] || diag "job ended $st, want COMPLETED"
[ "$(field ExitCode)" = "0:0" ] || diag "job exit code $(field ExitCode), want 0:0"
[ "$(field Restarts)" = 1 ] || diag "job restarts $(field Restarts), want 1"
grep -q 'stopped by a signal after step' "$out" || diag "cnn-dist did not report stopping on the signal"
grep -q 'cnn-dist exited with status 75 (usr1=1 term=0)' "$out" ||
    diag "the first start did not end with status 75 after the forwarded SIGUSR1"
grep -q "requeueing job $jid" "$out" || diag "the script did not requeue the job"
grep -q "job $jid start 1 " "$out" || diag "no second start with SLURM_RESTART_COUNT=1"
stopped=$(sed -n 's/.*stopped by a signal after step \([0-9]*\).*/\1/p' "$out" | head -n 1)
resumed=$(sed -n 's/.*resumed from step \([0-9]*\).*/\1/p' "$out" | head -n 1)
if [ -z "$resumed" ] || [ "$resumed" -le 0 ]; then diag "the restart did not resume from a checkpoint"; fi
[ "$resumed" = "$stopped" ] || diag "stopped after step $stopped but resumed from step $resumed"
# frozen at or after checkpoint $stopped_ckpt, the ranks stop at the next step boundary after it
[ "$resumed" -ge "$stopped_ckpt" ] && [ "$resumed" -lt 4000 ] ||
    diag "frozen after checkpoint $stopped_ckpt, the job stopped at step $resumed of 4000"
grep -q 'cnn-dist exited with status 0 ' "$out" || diag "the restart did not finish with status 0"
hjob=$(param_hash "$out")
grep -q "step 4000: parameter hash $hjob" "$out" || diag "no final hash at step 4000"
[ "$hjob" = "$href" ] || diag "parameters differ: uninterrupted $href, checkpointed+requeued $hjob"
grep -q "^cnn-dist: tiny ($P/share/cnn-dist/configs/tiny.ini)" "$out" || diag "the installed tiny.ini was not used"
echo "slurm requeue, installed scripts: stopped at step $stopped, requeued, resumed, hash $hjob matches the reference"
