# The airbench94 network (configs/airbench94.ini made small: 16/32/32 filters, batches of 24 in
# micro-shards of 4) on the 3x3 kernels: Winograd F(4x4, 3x3) with edge tiles (31x31, 15x15, 7x7 and 3x3
# outputs, none a multiple of 4) in all three products (b1_conv1's data gradient has 24 output channels),
# GELU, BatchNorm without scale, max pooling, the whitening 2x2 conv, label smoothing 0.2. Trains to
# bitwise the same parameters on 1, 2 and 3 ranks and with the kernels capped at AVX2 on an AVX-512
# machine; F(2x2) and F(6x6) everywhere train the same network to other bits and a loss within 1%.
. "$(dirname "$0")/../lib.sh"
small="--set b1_conv1.filters=16 --set b1_conv2.filters=16 --set b2_conv1.filters=32 --set b2_conv2.filters=32
 --set b3_conv1.filters=32 --set b3_conv2.filters=32 --set train.batch=24 --set train.micro_batch=4
 --set train.log_every=2 --set train.epochs=0.15 --set data.dir=$SYNTH --set data.train=data_batch_1.bin
 --set train.label_smoothing=0.2"
# shellcheck disable=SC2086
run 1 $small --set run.out_dir="$WORK/r1" "$AB" >"$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; fail "1 rank"; }
want=$(param_hash "$WORK/r1.log")
[ -n "$want" ] || { cat "$WORK/r1.log"; fail "no parameter hash"; }
# airbench's label smoothing reaches the model's loss: without it, other parameters
# shellcheck disable=SC2086
run 1 $small --set train.label_smoothing=0 --set run.out_dir="$WORK/ls0" "$AB" >"$WORK/ls0.log" 2>&1 ||
    { cat "$WORK/ls0.log"; fail "label_smoothing = 0"; }
[ "$(param_hash "$WORK/ls0.log")" != "$want" ] || fail "train.label_smoothing changed nothing"
if grep -q 'kernels avx' "$WORK/r1.log"; then
    # b1_conv1's data gradient has 24 output channels: Winograd in padded panels
    for l in b1_conv1 b1_conv2 b2_conv1 b2_conv2 b3_conv1 b3_conv2; do
        grep -q "${l} winograd4," "$WORK/r1.log" || { head -3 "$WORK/r1.log"; fail "$l: not Winograd F(4x4) in all products"; }
    done
fi
for np in 2 3; do
    # shellcheck disable=SC2086
    run $np $small --set run.out_dir="$WORK/r$np" "$AB" >"$WORK/r$np.log" 2>&1 || { cat "$WORK/r$np.log"; fail "$np ranks"; }
    [ "$(param_hash "$WORK/r$np.log")" = "$want" ] || fail "$np ranks: $(param_hash "$WORK/r$np.log"), 1 rank: $want"
done
if grep -q avx512f /proc/cpuinfo && [ "${CNN_ISA:-}" != avx2 ] && [ "${CNN_ISA:-}" != generic ]; then
    # shellcheck disable=SC2086
    CNN_ISA=avx2 run 2 $small --set run.out_dir="$WORK/a2" "$AB" >"$WORK/a2.log" 2>&1 || { cat "$WORK/a2.log"; fail "CNN_ISA=avx2"; }
    grep -q 'kernels avx2' "$WORK/a2.log" || fail "CNN_ISA=avx2 did not run AVX2 kernels"
    [ "$(param_hash "$WORK/a2.log")" = "$want" ] || fail "AVX2: $(param_hash "$WORK/a2.log"), AVX-512: $want"
else
    echo "SKIPPED: conv3x3.sh AVX2 against AVX-512 (no AVX-512 here, or CNN_ISA caps it)"
fi
# the other 3x3 families train the same network to other bits, close to these
if grep -q 'kernels avx' "$WORK/r1.log"; then
    for fam in winograd2 winograd6; do
        # shellcheck disable=SC2086
        run 2 $small --set run.conv=$fam --set run.out_dir="$WORK/$fam" "$AB" >"$WORK/$fam.log" 2>&1 ||
            { cat "$WORK/$fam.log"; fail "run.conv = $fam"; }
        algo=$fam
        [ "$fam" = winograd2 ] && algo=winograd # F(2x2)'s kernels are called winograd
        grep -q "b2_conv2 ${algo}," "$WORK/$fam.log" || { head -3 "$WORK/$fam.log"; fail "run.conv = $fam not used"; }
        [ "$(param_hash "$WORK/$fam.log")" != "$want" ] || fail "run.conv = $fam gave F(4x4)'s bits"
        # the last logged loss within 1% of F(4x4)'s
        awk -v a="$(grep -o 'loss [0-9.]*' "$WORK/r1.log" | tail -n 1 | cut -d' ' -f2)" \
            -v b="$(grep -o 'loss [0-9.]*' "$WORK/$fam.log" | tail -n 1 | cut -d' ' -f2)" \
            'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d < 0.01 * a) }' ||
            fail "run.conv = $fam: loss far from F(4x4)'s"
    done
fi
echo "conv3x3: the airbench94 shape bitwise on 1, 2, 3 ranks and AVX2; F(2x2) and F(6x6) close"
