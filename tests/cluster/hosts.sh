# Many hosts, for real: three "hosts" on this machine (network namespaces with their own host names and
# addresses on a bridge: tests/cluster/lib/netns.sh), Open MPI launching its daemons on them through an
# rsh agent, ranks on different hosts talking over TCP. Checks, on the tiny network:
#   - ranks on different hosts cannot reach each other without TCP (shared memory is not used between
#     them), and the gradients cross the hosts' links;
#   - the start line names each host with its ranks and threads, and how the data set is held;
#   - 2 hosts x 2 ranks and 3 hosts x 1 rank give bitwise the parameters of 1 rank, and so does a
#     BatchNorm network with residual connections on 2 hosts, and the airbench94 recipe on 3;
#   - SIGUSR1 on one host only: the job stops at an agreed step with one checkpoint, exit 75, and
#     resuming on another layout (3 hosts x 1 rank) ends bitwise equal to an uninterrupted run;
#   - a host lost mid-run (every process on it killed): mpirun ends nonzero, no process is left on any
#     host, the newest checkpoint and metrics.h5 open, and --resume latest on the hosts left continues
#     to the parameters of an uninterrupted run;
#   - a host cut off (its link down, its processes alive): the job ends nonzero (Open MPI's daemon
#     keepalives, the ranks' run.stall_timeout) and no process is left on any host.
# Both end in seconds; the test allows 120 s each, bounds against hangs only, so that a loaded machine
# cannot fail it.
# Needs root and network namespaces (CI has both); elsewhere it says SKIPPED.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/cluster/lib/netns.sh"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! ip netns add cnnt-probe 2>/dev/null; then
    echo "SKIPPED: the many-host tests (tests/cluster) need root, iproute2 and network namespaces"
    exit 0
fi
ip netns del cnnt-probe
trap 'cluster_down; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
cluster_up 3
H1=cnnt-h1 H2=cnnt-h2 H3=cnnt-h3
c="--set train.log_every=1 --set train.eval_every=0 --set train.micro_batch=4"

hrun() { # hrun HOSTS NP [cnn-dist args...]: cnn-dist on the cluster, tiny config on the synthetic data
    hosts=$1 np=$2
    shift 2
    cluster_mpirun "$hosts" -np "$np" --bind-to none "$BIN" --set data.dir="$SYNTH" "$@"
}
cnn_pids() { # cnn_pids HOST: the cnn-dist processes running on HOST
    for p in $(host_pids "$1"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = cnn-dist ] && echo "$p"
    done
    true
}

live_pids() { # live_pids HOST: host_pids less the zombies (a daemon that ended after mpirun is left to
    # init to reap, and some inits, such as a micro-VM's, never do: it has ended all the same)
    for p in $(host_pids "$1"); do
        [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] || echo "$p"
    done
    true
}

after_loss() { # after_loss OUT_DIR SECONDS WHAT: no process left on any host within SECONDS (a bound
    # against hangs); the newest checkpoint and metrics.h5 of OUT_DIR open; $newest is that checkpoint's step
    _deadline=$(($(date +%s) + $2))
    while [ -n "$(live_pids $H1)$(live_pids $H2)$(live_pids $H3)" ]; do
        [ "$(date +%s)" -lt $_deadline ] || fail "processes left $2 s after the job ended ($3): $(live_pids $H1) / $(live_pids $H2) / $(live_pids $H3)"
        sleep 0.1
    done
    newest=$(ls "$1"/ckpt-*.h5 | sed 's/.*ckpt-\([0-9]*\)\.h5/\1/' | sort -n | tail -n 1)
    h5ls "$1/ckpt-$newest.h5" >/dev/null || fail "the newest checkpoint (step $newest) does not open after $3"
    h5ls "$1/metrics.h5" >/dev/null || fail "metrics.h5 does not open after $3"
}

# shellcheck disable=SC2086
run 1 $c --set train.steps=20 --set run.out_dir="$WORK/ref20" "$TINY" >"$WORK/ref20.log" 2>&1 || fail "reference run"
want20=$(param_hash "$WORK/ref20.log")

# 2 hosts x 2 ranks: same bits as 1 rank; the start line; the gradients cross the link
rx0=$(rx_bytes $H2)
# shellcheck disable=SC2086
hrun $H1:2,$H2:2 4 $c --set train.steps=20 --set run.out_dir="$WORK/a" "$TINY" >"$WORK/a.log" 2>&1 ||
    { cat "$WORK/a.log"; fail "2 hosts x 2 ranks"; }
rx=$(($(rx_bytes $H2) - rx0))
[ "$(param_hash "$WORK/a.log")" = "$want20" ] || fail "2 hosts x 2 ranks: $(param_hash "$WORK/a.log"), 1 rank: $want20"
grep -q "^2 nodes ($H1: 2 ranks x 1 thread, $H2: 2 ranks x 1 thread); data set .*one copy per node" "$WORK/a.log" ||
    { head -5 "$WORK/a.log"; fail "the start line does not name both hosts with their ranks and threads"; }
params=$("$BIN" --summary "$TINY" | sed -n 's/^total: \([0-9]*\) parameters.*/\1/p')
need=$((20 * params * 8)) # every step, host 2 must learn host 1's share of the 64-bit fixed-point sums
[ "$rx" -ge "$need" ] || fail "host 2 received $rx bytes in 20 steps, less than the gradients ($need)"
echo "2 hosts x 2 ranks: bitwise as 1 rank; host 2 received $rx bytes over TCP in 20 steps (>= $need)"

# without TCP the hosts cannot reach each other: shared memory is not what carried the above
rc=0
# shellcheck disable=SC2086
cluster_mpirun $H1:1,$H2:1 -np 2 --bind-to none --mca btl self,vader "$BIN" --set data.dir="$SYNTH" $c \
    --set train.steps=2 --set run.out_dir="$WORK/nt" "$TINY" >"$WORK/nt.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "ranks on two hosts trained without the TCP transport"
grep -q 'unable to reach each other' "$WORK/nt.log" ||
    { cat "$WORK/nt.log"; fail "without TCP the job failed, but not because the hosts were unreachable"; }

# 3 hosts x 1 rank
# shellcheck disable=SC2086
hrun $H1:1,$H2:1,$H3:1 3 $c --set train.steps=20 --set run.out_dir="$WORK/b" "$TINY" >"$WORK/b.log" 2>&1 ||
    { cat "$WORK/b.log"; fail "3 hosts x 1 rank"; }
[ "$(param_hash "$WORK/b.log")" = "$want20" ] || fail "3 hosts x 1 rank differs from 1 rank"
grep -q "^3 nodes ($H1: 1 rank x 1 thread, $H2: 1 rank x 1 thread, $H3: 1 rank x 1 thread)" "$WORK/b.log" ||
    { head -5 "$WORK/b.log"; fail "start line of 3 hosts"; }

# a BatchNorm network with residual connections (lib.sh's RES_SMALL) across hosts: its parameters and
# running statistics bitwise those of 1 rank
# shellcheck disable=SC2086
run 1 $RES_SMALL --set train.steps=6 --set run.out_dir="$WORK/rn1" "$RES" >"$WORK/rn1.log" 2>&1 ||
    { cat "$WORK/rn1.log"; fail "the BatchNorm network on 1 rank"; }
# shellcheck disable=SC2086
hrun $H1:2,$H2:1 3 $RES_SMALL --set train.steps=6 --set run.out_dir="$WORK/rn3" "$RES" >"$WORK/rn3.log" 2>&1 ||
    { cat "$WORK/rn3.log"; fail "the BatchNorm network on 2 hosts"; }
[ "$(param_hash "$WORK/rn3.log")" = "$(param_hash "$WORK/rn1.log")" ] ||
    fail "the BatchNorm network: 2 hosts (2 + 1 ranks) $(param_hash "$WORK/rn3.log"), 1 rank $(param_hash "$WORK/rn1.log")"
# the airbench94 recipe (lib.sh's AB_SMALL) for 2 epochs, 26 steps: whitening init on rank 0 sent to the
# other hosts, lookahead from epoch 1; the parameters bitwise those of 1 rank
# shellcheck disable=SC2086
run 1 $AB_SMALL --set train.epochs=2 --set run.out_dir="$WORK/ab1" "$AB" >"$WORK/ab1.log" 2>&1 ||
    { cat "$WORK/ab1.log"; fail "airbench94 on 1 rank"; }
# shellcheck disable=SC2086
hrun $H1:1,$H2:1,$H3:1 3 $AB_SMALL --set train.epochs=2 --set run.out_dir="$WORK/ab3" "$AB" >"$WORK/ab3.log" 2>&1 ||
    { cat "$WORK/ab3.log"; fail "airbench94 on 3 hosts"; }
[ -n "$(param_hash "$WORK/ab1.log")" ] && [ "$(param_hash "$WORK/ab3.log")" = "$(param_hash "$WORK/ab1.log")" ] ||
    fail "airbench94: 3 hosts $(param_hash "$WORK/ab3.log"), 1 rank $(param_hash "$WORK/ab1.log")"
echo "3 hosts x 1 rank: bitwise as 1 rank"

# SIGUSR1 to the ranks of one host (as a scheduler preempting that node), then resume on 3 hosts x 1 to
# 50 steps past the stop. The job is given far more steps than it reaches, so the signal cannot come too
# late on a slow machine; the reference runs to the same goal afterwards (the learning rate is constant).
# shellcheck disable=SC2086
hrun $H1:2,$H2:2 4 $c --set train.steps=100000 --set train.checkpoint_every=0 --set run.out_dir="$WORK/s" "$TINY" \
    >"$WORK/s.log" 2>&1 &
job=$!
wait_for "$WORK/s.log" 'step 10/'
victims=$(cnn_pids $H2)
[ "$(echo "$victims" | wc -w)" -eq 2 ] || fail "expected 2 ranks on $H2, found: $victims"
# shellcheck disable=SC2086
kill -USR1 $victims
rc=0
wait $job || rc=$?
[ $rc -eq 75 ] || { cat "$WORK/s.log"; fail "after SIGUSR1 on one host the job exited $rc, want 75"; }
[ "$(grep -c 'stopped by a signal after step' "$WORK/s.log")" -eq 1 ] || fail "not one stop message"
[ "$(ls "$WORK/s"/ckpt-*.h5 | wc -l)" -eq 1 ] || fail "want exactly one checkpoint: $(ls "$WORK/s")"
stopped=$(ls "$WORK/s"/ckpt-*.h5 | sed 's/.*ckpt-\([0-9]*\)\.h5/\1/')
goal=$((stopped + 50))
# shellcheck disable=SC2086
hrun $H1:1,$H2:1,$H3:1 3 $c --set train.steps=$goal --set train.checkpoint_every=0 --set run.out_dir="$WORK/s" \
    --resume latest "$TINY" >"$WORK/s2.log" 2>&1 || { cat "$WORK/s2.log"; fail "resume on 3 hosts x 1 rank"; }
grep -q "resumed from step $stopped" "$WORK/s2.log" || fail "did not resume from step $stopped"
# shellcheck disable=SC2086
run 1 $c --set train.steps=$goal --set run.out_dir="$WORK/refs" "$TINY" >"$WORK/refs.log" 2>&1 || fail "reference"
[ -n "$(param_hash "$WORK/refs.log")" ] && [ "$(param_hash "$WORK/s2.log")" = "$(param_hash "$WORK/refs.log")" ] ||
    fail "stopped on 2x2 at $stopped, resumed on 3x1 to $goal: differs from uninterrupted"
echo "SIGUSR1 on $H2 only: one checkpoint at step $stopped, exit 75; resumed on 3 hosts x 1: bitwise as uninterrupted"

# a host lost: kill everything on host 3 (its Open MPI daemon and its rank) in the middle of training
# shellcheck disable=SC2086
hrun $H1:1,$H2:1,$H3:1 3 $c --set train.steps=100000 --set train.checkpoint_every=10 --set train.keep=2 \
    --set run.out_dir="$WORK/k" "$TINY" >"$WORK/k.log" 2>&1 &
job=$!
wait_for "$WORK/k.log" 'checkpoint .*ckpt-20.h5'
lost=$(host_pids $H3)
[ -n "$lost" ] || fail "nothing runs on $H3"
# shellcheck disable=SC2086
kill -9 $lost
wait_end $job 120 "the job still runs 120 s after $H3 was lost"
rc=$JOB_RC took=$JOB_SECONDS
[ $rc -ne 0 ] || fail "mpirun exited 0 after a host was lost"
after_loss "$WORK/k" 60 "$H3 was lost"
goal=$((newest + 10))
# shellcheck disable=SC2086
hrun $H1:1,$H2:1 2 $c --set train.steps=$goal --set train.checkpoint_every=10 --set train.keep=2 \
    --set run.out_dir="$WORK/k" --resume latest "$TINY" >"$WORK/k2.log" 2>&1 ||
    { cat "$WORK/k2.log"; fail "--resume latest after the host was lost"; }
grep -q "resumed from step $newest" "$WORK/k2.log" || fail "did not resume from step $newest"
# shellcheck disable=SC2086
run 1 $c --set train.steps=$goal --set run.out_dir="$WORK/refk" "$TINY" >"$WORK/refk.log" 2>&1 || fail "reference"
[ "$(param_hash "$WORK/k2.log")" = "$(param_hash "$WORK/refk.log")" ] || fail "lost a host, resumed: differs"
echo "host $H3 lost: job ended with status $rc in $took s, no process left; resumed from step $newest on 2 hosts: bitwise as uninterrupted"

# a host cut off (its link down, its processes alive): mpirun's daemons notice through TCP keepalives
# (set short here, as the README advises), the ranks through run.stall_timeout; the job ends nonzero
# (in about 15 s; 120 s allowed) and the cut-off host's daemon and rank end themselves too.
ka="--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3"
# shellcheck disable=SC2086
cluster_mpirun $H1:1,$H2:1,$H3:1 -np 3 --bind-to none $ka "$BIN" --set data.dir="$SYNTH" $c \
    --set train.steps=100000 --set train.checkpoint_every=10 --set run.stall_timeout=10 \
    --set run.out_dir="$WORK/l" "$TINY" >"$WORK/l.log" 2>&1 &
job=$!
wait_for "$WORK/l.log" 'checkpoint .*ckpt-20.h5'
ip -n $H3 link set eth0 down
wait_end $job 120 "the job still runs 120 s after $H3's link went down"
rc=$JOB_RC took=$JOB_SECONDS
[ $rc -ne 0 ] || fail "mpirun exited 0 after a host was cut off"
after_loss "$WORK/l" 120 "$H3's link went down"
echo "host $H3 cut off: job ended with status $rc in $took s, no process left on any host, checkpoint $newest and metrics open"
