# One binary for every x86-64 CPU: the default build runs the CIFAR-10 network under every instruction set
# this machine allows (CNN_ISA=generic, avx2, avx512), on 1 and 2 ranks, and names what it uses. AVX2 and
# AVX-512 give bitwise the same parameters (the tiled kernels sum in one order on every vector width);
# generic runs OpenBLAS (another order: close, not equal). Ranks whose CPUs differ agree on the lowest set
# and still give those bits. Sets above this CPU are reported as skipped.
. "$(dirname "$0")/../lib.sh"
CIFAR="$ROOT/configs/cifar10.ini"
max=$("$BIN" --summary "$CIFAR" | sed -n 's/^kernels: \([a-z0-9]*\) .*/\1/p')
case $max in
generic) isas="generic" ;;
avx2) isas="generic avx2" ;;
avx512) isas="generic avx2 avx512" ;;
*) fail "--summary does not name the instruction set" ;;
esac
[ "$max" = avx512 ] || echo "SKIPPED: avx512 (this CPU runs at most $max)"
[ "$max" != generic ] || echo "SKIPPED: avx2 (this CPU runs only generic)"
common="--set train.steps=4 --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0
--set data.train=data_batch_1.bin --set train.micro_batch=32"
for isa in $isas; do
    for np in 1 2; do
        # shellcheck disable=SC2086
        CNN_ISA=$isa run $np $common --set run.out_dir="$WORK/$isa$np" "$CIFAR" >"$WORK/$isa$np.log" 2>&1 ||
            { cat "$WORK/$isa$np.log"; fail "CNN_ISA=$isa on $np ranks failed"; }
        grep -q "^kernels $isa: conv1 $([ $isa = generic ] && echo sgemm || echo direct), conv2 $([ $isa = generic ] && echo sgemm || echo winograd4)," \
            "$WORK/$isa$np.log" || { cat "$WORK/$isa$np.log"; fail "CNN_ISA=$isa: the kernels line does not say $isa"; }
        [ "$(grep -c '^step [0-9]*/4 .*loss [0-9]' "$WORK/$isa$np.log")" -eq 4 ] || fail "CNN_ISA=$isa: 4 steps"
    done
    h1=$(param_hash "$WORK/${isa}1.log")
    h2=$(param_hash "$WORK/${isa}2.log")
    [ -n "$h1" ] && [ "$h1" = "$h2" ] || fail "CNN_ISA=$isa: 1 rank $h1, 2 ranks $h2"
    eval "hash_$isa=$h1"
    echo "CNN_ISA=$isa: parameter hash $h1 on 1 and 2 ranks"
done
if [ "$max" != generic ]; then
    # shellcheck disable=SC2154
    [ "$hash_generic" != "$hash_avx2" ] || fail "generic (OpenBLAS) and avx2 should sum in different orders"
fi
if [ "$max" = avx512 ]; then
    # shellcheck disable=SC2154
    [ "$hash_avx2" = "$hash_avx512" ] || fail "avx2 $hash_avx2 and avx512 $hash_avx512 differ"
    # one rank capped at avx2, one not: both run avx2 (a job over nodes of two CPU generations)
    # shellcheck disable=SC2086
    mpirun --oversubscribe --bind-to none -np 1 -x CNN_ISA=avx2 "$BIN" --set data.dir="$SYNTH" $common \
        --set run.out_dir="$WORK/mixed" "$CIFAR" : -np 1 "$BIN" --set data.dir="$SYNTH" $common \
        --set run.out_dir="$WORK/mixed" "$CIFAR" >"$WORK/mixed.log" 2>&1 || { cat "$WORK/mixed.log"; fail "mixed ranks"; }
    grep -q "the ranks' CPUs differ (avx2 to avx512): every rank runs the avx2 kernels" "$WORK/mixed.log" ||
        { cat "$WORK/mixed.log"; fail "mixed ranks: no agreement message"; }
    [ "$(param_hash "$WORK/mixed.log")" = "$hash_avx2" ] || fail "mixed ranks: a different result"
fi

# The default build uses nothing above x86-64-v2 outside src/nn/kernels/ (no SIGILL on an older compute
# node), the avx2 kernels no 512-bit registers, and the avx512 kernels do use them. (make NATIVE=1 builds
# the baseline for this CPU on purpose: not checked then.)
objs=$(dirname "$BIN")
if [ "${NATIVE:-0}" = 1 ]; then
    echo "SKIPPED: the baseline instruction check (built with NATIVE=1)"
elif command -v objdump >/dev/null && [ -f "$objs/src/cpu.o" ] && [ -f "$objs/kernels/avx512/tiles.o" ]; then
    # VEX/EVEX instructions (AVX and up) all start with v
    n=$(objdump -d --no-show-raw-insn "$objs"/src/*.o "$objs"/src/*/*.o "$objs"/kernels/generic/*.o |
        awk '$2 ~ /^v/' | wc -l)
    [ "$n" -eq 0 ] || fail "the baseline build has $n AVX instructions: it would trap on older CPUs"
    n=$(objdump -d "$objs"/kernels/avx2/*.o | grep -c '%zmm') || true
    [ "$n" -eq 0 ] || fail "the avx2 kernels use 512-bit registers"
    n=$(objdump -d "$objs"/kernels/avx512/tiles.o | grep -c 'vfmadd...ps.*%zmm') || true
    [ "$n" -gt 0 ] || fail "the avx512 tiles do not use 512-bit FMAs"
else
    echo "SKIPPED: the baseline instruction check (no objdump or no objects next to $BIN)"
fi
