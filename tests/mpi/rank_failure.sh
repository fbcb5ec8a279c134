# A rank that dies takes the job down: kill -9 one rank of a 2-rank run in the middle of training; mpirun
# must exit nonzero within seconds, without hanging.
. "$(dirname "$0")/../lib.sh"
run 2 --set train.steps=100000 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0 \
    --set run.out_dir="$WORK/out" "$TINY" >"$WORK/log" 2>&1 &
job=$!
i=0
while ! grep -q 'step 3/' "$WORK/log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] || { kill $job; cat "$WORK/log"; fail "the job did not start training"; }
    sleep 0.1
done
victim=""
for p in $(pgrep -f "cnn-dist.*$WORK"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] || { kill $job; fail "could not find rank 1"; }
kill -9 "$victim"
start=$(date +%s)
i=0
while kill -0 $job 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 200 ] || { kill -9 $job; fail "the job still runs 20 s after rank 1 died"; }
    sleep 0.1
done
rc=0
wait $job || rc=$?
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank died"
echo "job ended with status $rc, $(( $(date +%s) - start )) s after rank 1 was killed"

# Ranks that read different configs refuse to train (the hashes are compared at start), not diverge.
rc=0
mpirun --oversubscribe --bind-to none -np 1 "$BIN" --set data.dir="$SYNTH" --set run.out_dir="$WORK/m" "$TINY" : \
    -np 1 "$BIN" --set data.dir="$SYNTH" --set train.lr=0.5 --set run.out_dir="$WORK/m" "$TINY" >"$WORK/mm" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q 'ranks disagree on the training config' "$WORK/mm" ||
    { cat "$WORK/mm"; fail "a config mismatch between ranks was not refused (exit $rc)"; }
