# The command line as a user meets it: --summary of the CIFAR-10 network, --set, config errors with file
# and line and nothing started, a data error naming the file and offset, --help.
. "$(dirname "$0")/../lib.sh"
"$BIN" --summary "$ROOT/configs/cifar10.ini" >"$WORK/sum" || fail "--summary failed"
grep -q '1068298 parameters' "$WORK/sum" || { cat "$WORK/sum"; fail "CIFAR-10 network should have 1068298 parameters"; }
grep -q '36.94 MFLOP forward, 105.30 MFLOP training' "$WORK/sum" || { cat "$WORK/sum"; fail "FLOPs line"; }
grep -q '^local3 .* 2304\?.*885120' "$WORK/sum" || grep -q 'local3.*885120' "$WORK/sum" || fail "local3 params"
# the airbench94 network (configs/airbench94.ini): PyTorch's shapes (MaxPool2d floors, as a VALID
# max-pool does) and bench/pytorch_modern.py's parameters (+ the 288 whitening weights it freezes)
"$BIN" --summary "$ROOT/configs/airbench94.ini" >"$WORK/air" || { cat "$WORK/air"; fail "--summary airbench94.ini"; }
for want in '^whiten .* 31x31x24 ' '^b1_pool .* 15x15x64 ' '^b2_pool .* 7x7x256 ' '^b3_pool .* 3x3x256 ' \
    '^pool .* 1x1x256 ' '^logits .* 10 .* 2560 ' '^total: 1971640 parameters'; do
    grep -q "$want" "$WORK/air" || { cat "$WORK/air"; fail "airbench94.ini: no line matching $want"; }
done
# its 24-filter whitening conv runs on cnn-dist's tiles (the same bits on every CPU), not OpenBLAS
if grep -q '^kernels: avx' "$WORK/air"; then
    grep -q '^whiten .* direct$' "$WORK/air" || { cat "$WORK/air"; fail "airbench94.ini: whiten not on the direct tiles"; }
    # the time model's column (plan.h): ms for a step of the batch on one core, on each planned layer, and
    # the total at the measured FMA peak
    for want in '^layer .* ms/step  kernel$' '^b2_conv2 .* [0-9][0-9]*\.[0-9]  winograd4$' \
        '^logits .* [0-9][0-9]*\.[0-9]  tiles$' '^ms/step: .* one step of 1024 images on one core of [0-9]* GFLOP/s'; do
        grep -q "$want" "$WORK/air" || { cat "$WORK/air"; fail "airbench94.ini --summary: no line matching $want"; }
    done
fi
"$BIN" --set conv1.filters=32 --summary "$ROOT/configs/cifar10.ini" | grep -q 'conv1 .* 12x12x32\|conv1 .*24x24x32' ||
    fail "--set did not change conv1"
# the kernel column follows run.conv: gemm always lowers to im2col + sgemm; direct and winograd, where the
# instruction set has the tiled kernels, take the stride-1 convolutions with a multiple of 16 filters
# (and say plainly when it has none: CNN_ISA=generic); the first line names the instruction set
"$BIN" --set run.conv=gemm --summary "$ROOT/configs/cifar10.ini" | grep -q '^conv2 .*sgemm$' ||
    fail "run.conv=gemm: conv2 should say sgemm"
isa=$(sed -n 's/^kernels: \([a-z0-9]*\) .*/\1/p' "$WORK/sum")
case $isa in generic | avx2 | avx512) ;; *) cat "$WORK/sum"; fail "--summary does not name the instruction set" ;; esac
rc=0
"$BIN" --set run.conv=direct --summary "$ROOT/configs/cifar10.ini" >"$WORK/sum" 2>&1 || rc=$?
if [ "$isa" != generic ]; then
    [ $rc -eq 0 ] || { cat "$WORK/sum"; fail "run.conv=direct on $isa"; }
    grep -q '^conv2 .*direct$' "$WORK/sum" || { cat "$WORK/sum"; fail "run.conv=direct: conv2 should say direct"; }
    grep -q '^local3 .*tiles$' "$WORK/sum" || fail "dense layers take the tiles"
    "$BIN" --set run.conv=winograd --summary "$ROOT/configs/cifar10.ini" >"$WORK/sum" 2>&1
    grep -q '^conv2 .*winograd4$' "$WORK/sum" || { cat "$WORK/sum"; fail "run.conv=winograd: conv2 should say winograd4"; }
    grep -q '^conv1 .*direct$' "$WORK/sum" || fail "conv1 (3 input channels) cannot take Winograd"
fi
if [ "$isa" = generic ] || CNN_ISA=generic "$BIN" --summary "$ROOT/configs/cifar10.ini" >/dev/null 2>&1; then
    rc=0
    CNN_ISA=generic "$BIN" --set run.conv=direct --summary "$ROOT/configs/cifar10.ini" >"$WORK/sum" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q -- '--set run.conv=direct: run.conv = direct needs AVX2 and FMA' "$WORK/sum" ||
        { cat "$WORK/sum"; fail "run.conv=direct on the generic instruction set: exit $rc"; }
    CNN_ISA=generic "$BIN" --summary "$ROOT/configs/cifar10.ini" | grep -q '^local3 .*sgemm$' ||
        fail "generic: dense layers on sgemm"
fi
rc=0
CNN_ISA=sse9 "$BIN" --summary "$ROOT/configs/cifar10.ini" >"$WORK/sum" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'CNN_ISA=sse9: expected generic, avx2 or avx512' "$WORK/sum" ||
    { cat "$WORK/sum"; fail "a bad CNN_ISA: exit $rc"; }

printf '[run]\nseed = 1\n[data]\nformat = cifar10\ndir = x\n[train]\nbatch = 8\nsteps = 1\nbogus = 3\n' >"$WORK/bad.ini"
rc=0
"$BIN" "$WORK/bad.ini" >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "unknown key: exit $rc, want 1"
grep -q 'bad.ini:9' "$WORK/out" || { cat "$WORK/out"; fail "unknown key: no file:line in the message"; }
[ ! -d "$ROOT/runs/bad" ] || fail "a bad config created an output folder"

rc=0
"$BIN" --set train.lr=abc "$TINY" >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'train.lr' "$WORK/out" || { cat "$WORK/out"; fail "bad override value"; }

# a CIFAR-10 file with a bad label: the error names the file and the offset, training does not start
mkdir -p "$WORK/badcifar"
cp "$SYNTH/test_batch.bin" "$WORK/badcifar/test_batch.bin"
cp "$SYNTH/data_batch_1.bin" "$WORK/badcifar/data_batch_1.bin"
printf '\052' | dd of="$WORK/badcifar/data_batch_1.bin" bs=1 seek=6146 conv=notrunc 2>/dev/null
rc=0
"$BIN" --set data.dir="$WORK/badcifar" --set data.train=data_batch_1.bin --set run.out_dir="$WORK/o" "$TINY" \
    >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'data_batch_1.bin.*6146' "$WORK/out" || { cat "$WORK/out"; fail "bad label not reported with offset"; }
[ ! -e "$WORK/o/metrics.h5" ] || fail "training started despite bad data"

"$BIN" --help | grep -q -- '--resume' || fail "--help"
# numbers on the command line are read as strictly as config values
for bad in 12abc 0x5 -3 0 99999999999; do
    rc=0
    "$BIN" --bench "$bad" "$TINY" >"$WORK/out" 2>&1 || rc=$?
    [ $rc -eq 2 ] && grep -q -- "--bench needs a positive whole number, got '$bad'" "$WORK/out" ||
        { cat "$WORK/out"; fail "--bench $bad: exit $rc"; }
done
# a NUL byte is reported on its own line, with its offset
printf '[run]\nseed = 1\n\n[data]\nfor\000mat = cifar10\n' >"$WORK/nul.ini"
rc=0
"$BIN" --summary "$WORK/nul.ini" >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'nul.ini:5: NUL byte (offset 26)' "$WORK/out" || { cat "$WORK/out"; fail "NUL byte line"; }
rc=0
"$BIN" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "no arguments: exit $rc, want 2"

# NaN/Inf: an absurd learning rate blows the network up; the run stops with exit 3 naming step and tensor
rc=0
"$BIN" --set data.dir="$SYNTH" --set train.lr=1e30 --set train.steps=50 --set run.out_dir="$WORK/nan" "$TINY" \
    >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q 'NaN or Inf in the .* at step [0-9]' "$WORK/out" || { cat "$WORK/out"; fail "NaN not caught (exit $rc)"; }

# out_dir may be several folders deep and not exist yet (the default runs/<name> on a fresh clone)
"$BIN" --set data.dir="$SYNTH" --set train.steps=2 --set run.out_dir="$WORK/a/b/c" "$TINY" >"$WORK/out" 2>&1 ||
    { cat "$WORK/out"; fail "nested out_dir"; }
[ -f "$WORK/a/b/c/metrics.h5" ] && [ -f "$WORK/a/b/c/ckpt-2.h5" ] || fail "nested out_dir: files missing"

# sizes that cannot fit: refused before anything is allocated or written, naming the keys and the figures
CIFAR="$ROOT/configs/cifar10.ini"
sc="--set data.dir=$SYNTH --set data.train=data_batch_1.bin --set run.out_dir=$WORK/oom"
expect_oom() { # expect_oom TEXT --set ...: exit 1, TEXT in the one-line reason, no out_dir
    want=$1
    shift
    rc=0
    # shellcheck disable=SC2086
    "$BIN" $sc "$@" "$CIFAR" >"$WORK/out" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q -- "$want" "$WORK/out" || { cat "$WORK/out"; fail "$*: exit $rc, want 1 and '$want'"; }
    [ ! -e "$WORK/oom" ] || fail "$*: something was written"
    [ "$(grep -c . "$WORK/out")" -le 3 ] || { cat "$WORK/out"; fail "$*: more than a short message"; }
}
expect_oom 'prefetched batches (data.prefetch = 1000000000 batches of 128 samples' --set data.prefetch=1000000000
expect_oom 'train.batch = 1000000000 over 1 rank' --set train.batch=1000000000
expect_oom 'a rank would need about .* more than the .* it may use here' --set train.batch=1000000000
expect_oom '\[conv1\]: its output, 24x24x100000000 per sample, is more than 2^30 values' --set conv1.filters=100000000
rc=0
(ulimit -v 800000 && OPENBLAS_NUM_THREADS=1 "$BIN" $sc --set train.eval_batch=5000 "$CIFAR") >"$WORK/out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "address-space limit (ulimit -v) of 819.2 MB): .* 5000 samples at once" "$WORK/out" ||
    { cat "$WORK/out"; fail "ulimit -v: exit $rc"; }
"$BIN" --summary "$CIFAR" | grep -q '^memory per rank (1 rank, training): about [0-9.]* MB: parameters' ||
    fail "--summary: no memory estimate"
