# A rank that dies takes the job down: kill -9 one rank of a 2-rank run in the middle of training; mpirun
# must exit nonzero without hanging (within 120 s, a bound against hangs only: it takes seconds).
. "$(dirname "$0")/../lib.sh"
run 2 --set train.steps=100000 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0 \
    --set run.out_dir="$WORK/out" "$TINY" >"$WORK/log" 2>&1 &
job=$!
wait_for "$WORK/log" 'step 3/'
victim=$(rank_pid 1)
[ -n "$victim" ] || { kill $job; fail "could not find rank 1"; }
kill -9 "$victim"
wait_end $job 120 "the job still runs 120 s after rank 1 died: a hang"
[ $JOB_RC -ne 0 ] || fail "mpirun exited 0 after a rank died"
echo "job ended with status $JOB_RC, $JOB_SECONDS s after rank 1 was killed"

# Ranks that read different configs refuse to train (the hashes are compared at start), not diverge.
rc=0
mpirun --oversubscribe --bind-to none -np 1 "$BIN" --set data.dir="$SYNTH" --set run.out_dir="$WORK/m" "$TINY" : \
    -np 1 "$BIN" --set data.dir="$SYNTH" --set train.lr=0.5 --set run.out_dir="$WORK/m" "$TINY" >"$WORK/mm" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q 'ranks disagree on the training config' "$WORK/mm" ||
    { cat "$WORK/mm"; fail "a config mismatch between ranks was not refused (exit $rc)"; }
