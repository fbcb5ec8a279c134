# A full disk while checkpointing: the run stops with one line naming the file and the operating system's
# reason (No space left on device), exit 1 on every rank without an MPI abort, no temp file left, the
# earlier checkpoint and metrics.h5 intact, and the run resumes from them elsewhere. The disk is a small
# tmpfs (root only; skipped, and said so, where mounting one is not allowed).
. "$(dirname "$0")/../lib.sh"
mnt="$WORK/small"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=700k tmpfs "$mnt" 2>/dev/null; then
    echo "SKIPPED: disk full (cannot mount a tmpfs here: needs root)"
    exit 0
fi
trap 'umount "$mnt" 2>/dev/null; rm -rf "$WORK"' EXIT
# the tiny network's checkpoint is ~400 KB and metrics.h5 ~110 KB: the second checkpoint does not fit
c="--set train.steps=6 --set train.log_every=2 --set train.eval_every=0 --set train.checkpoint_every=2 --set train.micro_batch=4"
rc=0
# shellcheck disable=SC2086
run 2 $c --set run.out_dir="$mnt/run" "$TINY" >"$WORK/full.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$WORK/full.log"; fail "disk full: exit $rc, want 1"; }
grep -q "^cnn-dist: $mnt/run/ckpt-4.h5.tmp: cannot write checkpoint: No space left on device (the earlier checkpoints are untouched)" \
    "$WORK/full.log" || { cat "$WORK/full.log"; fail "disk full: no clear reason"; }
! grep -q 'MPI_ABORT\|src/.*\.c:[0-9]' "$WORK/full.log" || { cat "$WORK/full.log"; fail "disk full: an abort or a source location"; }
[ -f "$mnt/run/ckpt-2.h5" ] && h5ls "$mnt/run/ckpt-2.h5" >/dev/null || fail "the earlier checkpoint is gone or damaged"
! ls "$mnt/run"/*.tmp >/dev/null 2>&1 || fail "a temp file was left behind"
h5dump -H "$mnt/run/metrics.h5" >/dev/null || fail "metrics.h5 damaged"
# elsewhere, with room: it resumes from step 2 and finishes
cp -r "$mnt/run" "$WORK/moved"
# shellcheck disable=SC2086
run 2 $c --set run.out_dir="$WORK/moved" --resume latest "$TINY" >"$WORK/resume.log" 2>&1 ||
    { cat "$WORK/resume.log"; fail "resume after the disk filled"; }
grep -q 'resumed from step 2' "$WORK/resume.log" && [ -f "$WORK/moved/ckpt-6.h5" ] || fail "did not resume from step 2"
