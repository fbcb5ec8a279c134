# A BatchNorm network with residual connections (configs/resnet20.ini made small, lib.sh's RES_SMALL:
# one block per stage, 16/16/32 filters, both shortcut options) trains to bitwise the same parameters, running statistics
# included, on 1, 2 and 3 ranks, across a stop on 2 ranks and a resume on 3, and with the kernels capped
# at AVX2 on an AVX-512 machine; --eval on the running statistics gives the same on 1 and 2 ranks; fast
# mode (each rank's slice one BatchNorm group) trains too.
. "$(dirname "$0")/../lib.sh"
small=$RES_SMALL
# shellcheck disable=SC2086
run 1 $small --set train.steps=6 --set run.out_dir="$WORK/r1" "$RES" >"$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; fail "1 rank"; }
want=$(param_hash "$WORK/r1.log")
# 16 filters and more: the 3x3 stride-1 layers run Winograd F(4x4, 3x3) wherever the CPU has the tiles
if grep -q 'kernels avx' "$WORK/r1.log"; then
    grep -q 'stage1_1_conv1 winograd4, stage1_1_conv2 winograd4' "$WORK/r1.log" || { head -3 "$WORK/r1.log"; fail "no Winograd 3x3"; }
fi
[ -n "$want" ] || { cat "$WORK/r1.log"; fail "no parameter hash"; }
for np in 2 3; do
    # shellcheck disable=SC2086
    run $np $small --set train.steps=6 --set run.out_dir="$WORK/r$np" "$RES" >"$WORK/r$np.log" 2>&1 ||
        { cat "$WORK/r$np.log"; fail "$np ranks"; }
    [ "$(param_hash "$WORK/r$np.log")" = "$want" ] || fail "$np ranks: $(param_hash "$WORK/r$np.log"), 1 rank: $want"
done
# the running statistics moved, and they are part of what the hash covers
/usr/bin/python3 - "$WORK/r1/ckpt-6.h5" <<'PY' || fail "running statistics"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    v = f["/params/bn1/moving_variance"][...]
    m = f["/params/stage3_1_projbn/moving_mean"][...]
    assert v.shape == (16,) and not np.all(v == 1.0), v
    assert m.shape == (32,) and np.any(m != 0.0), m
    assert "bn1/moving_mean" not in f["/optimizer/sgd/momentum"], "a buffer has an optimizer slot"
    assert "stage2_1_pad" in f.attrs["config"] and "type = resblock" not in f.attrs["config"]
PY
# stop at 3 on 2 ranks, resume on 3 ranks
# shellcheck disable=SC2086
run 2 $small --set train.steps=3 --set run.out_dir="$WORK/s" "$RES" >/dev/null 2>&1 || fail "first half"
# shellcheck disable=SC2086
run 3 $small --set train.steps=6 --set run.out_dir="$WORK/s" --resume latest "$RES" >"$WORK/s2.log" 2>&1 ||
    { cat "$WORK/s2.log"; fail "resume on 3 ranks"; }
grep -q 'resumed from step 3' "$WORK/s2.log" || fail "did not resume from step 3"
[ "$(param_hash "$WORK/s2.log")" = "$want" ] || fail "2 ranks to 3 + 3 ranks to 6: $(param_hash "$WORK/s2.log"), uninterrupted $want"
# AVX2 against AVX-512
if grep -q avx512f /proc/cpuinfo && [ "${CNN_ISA:-}" != avx2 ] && [ "${CNN_ISA:-}" != generic ]; then
    # shellcheck disable=SC2086
    CNN_ISA=avx2 run 2 $small --set train.steps=6 --set run.out_dir="$WORK/a2" "$RES" >"$WORK/a2.log" 2>&1 ||
        { cat "$WORK/a2.log"; fail "CNN_ISA=avx2"; }
    grep -q 'kernels avx2' "$WORK/a2.log" || fail "CNN_ISA=avx2 did not run AVX2 kernels"
    [ "$(param_hash "$WORK/a2.log")" = "$want" ] || fail "AVX2: $(param_hash "$WORK/a2.log"), AVX-512: $want"
else
    echo "SKIPPED: graph.sh AVX2 against AVX-512 (no AVX-512 here, or CNN_ISA caps it)"
fi
# --eval on the running statistics: the same on 1 and 2 ranks
# shellcheck disable=SC2086
e1=$(run 1 $small --eval "$WORK/r1/ckpt-6.h5" "$RES" 2>&1 | grep -o 'test loss [0-9.]*  test accuracy [0-9.]*') || fail "--eval on 1 rank"
# shellcheck disable=SC2086
e2=$(run 2 $small --eval "$WORK/r1/ckpt-6.h5" "$RES" 2>&1 | grep -o 'test loss [0-9.]*  test accuracy [0-9.]*') || fail "--eval on 2 ranks"
[ "$e1" = "$e2" ] || fail "--eval: 1 rank '$e1', 2 ranks '$e2'"
# fast mode
# shellcheck disable=SC2086
run 2 $small --set train.deterministic=false --set train.steps=6 --set run.out_dir="$WORK/f" "$RES" >"$WORK/f.log" 2>&1 ||
    { cat "$WORK/f.log"; fail "fast mode"; }
grep -q 'step 6/6 .*loss [0-9]' "$WORK/f.log" || { cat "$WORK/f.log"; fail "fast mode did not reach step 6"; }
