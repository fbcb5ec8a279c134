# The watchdog: a rank that stops answering (SIGSTOP here, as a hung node or a partitioned network would)
# leaves the others waiting in a collective; after run.stall_timeout seconds without progress they say
# so and end with status 4, and the job ends instead of holding its nodes. A run that progresses never
# trips it (every other test runs with the default of 300 s).
. "$(dirname "$0")/../lib.sh"
run 2 --set train.steps=100000 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=10 \
    --set run.stall_timeout=5 --set run.out_dir="$WORK/out" "$TINY" >"$WORK/log" 2>&1 &
job=$!
i=0
while ! grep -q 'step 12/' "$WORK/log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] || { kill $job; cat "$WORK/log"; fail "the job did not start training"; }
    sleep 0.1
done
victim=""
for p in $(pgrep -f "cnn-dist.*$WORK"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] || { kill $job; fail "could not find rank 1"; }
kill -STOP "$victim"
start=$(date +%s)
i=0
while kill -0 $job 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 250 ] || { kill -9 "$victim" $job; fail "the job still runs 25 s after rank 1 froze (stall_timeout 5 s)"; }
    sleep 0.1
done
rc=0
wait $job || rc=$?
took=$(($(date +%s) - start))
kill -9 "$victim" 2>/dev/null || true
[ $rc -eq 4 ] || { cat "$WORK/log"; fail "after rank 1 froze the job exited $rc, want 4"; }
grep -q 'rank 0: no progress for [5-9] s (run.stall_timeout)' "$WORK/log" || { cat "$WORK/log"; fail "no stall message"; }
[ $took -ge 4 ] || fail "the job ended $took s after the freeze, before the 5 s timeout"
h5ls "$WORK/out/metrics.h5" >/dev/null || fail "metrics.h5 does not open after the stall"
echo "rank 1 frozen: rank 0 said so and the job ended with status 4 in $took s"
