# The watchdog: a rank that stops answering (SIGSTOP here, as a hung node or a partitioned network would)
# leaves the others waiting in a collective; after run.stall_timeout seconds without progress they say
# so and end with status 4, and the job ends instead of holding its nodes. A run that progresses never
# trips it (every other test runs with the default of 300 s). No time window is asserted: the job must
# end at all (within 120 s, a bound against hangs only), and the seconds the watchdog reports idle (its
# own monotonic clock) must be at least the timeout. When it fires and what it counts is tested on a
# clock the test drives, in test_watchdog.
. "$(dirname "$0")/../lib.sh"
run 2 --set train.steps=100000 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=10 \
    --set run.stall_timeout=5 --set run.out_dir="$WORK/out" "$TINY" >"$WORK/log" 2>&1 &
job=$!
wait_for "$WORK/log" 'step 12/'
victim=$(rank_pid 1)
[ -n "$victim" ] || { kill $job; fail "could not find rank 1"; }
trap 'kill -9 "$victim" 2>/dev/null; rm -rf "$WORK"' EXIT # a frozen rank must not outlive a failure
kill -STOP "$victim"
wait_end $job 120 "the job still runs 120 s after rank 1 froze (stall_timeout 5 s): the watchdog did not end it"
rc=$JOB_RC took=$JOB_SECONDS
[ $rc -eq 4 ] || { cat "$WORK/log"; fail "after rank 1 froze the job exited $rc, want 4"; }
idle=$(sed -n 's/.*rank 0: no progress for \([0-9]*\) s (run\.stall_timeout).*/\1/p' "$WORK/log" | head -n 1)
[ -n "$idle" ] || { cat "$WORK/log"; fail "no stall message from rank 0"; }
[ "$idle" -ge 5 ] || { cat "$WORK/log"; fail "rank 0 gave up after $idle s without progress, before the 5 s timeout"; }
h5ls "$WORK/out/metrics.h5" >/dev/null || fail "metrics.h5 does not open after the stall"
echo "rank 1 frozen: rank 0 said so after $idle s idle and the job ended with status 4, $took s after the freeze"
