# make install into a temporary DESTDIR and PREFIX, then from another directory: --version, --summary
# of an installed config by name, a few steps of the installed tiny.ini on 2 ranks (the start line names
# the file used; the checkpoint and metrics.h5 say what produced them), cnn-run, the manual page; make
# uninstall leaves no file. plot-metrics draws two runs on the same axes into a PNG of the panels'
# size and prints their accuracies, the runs of one name told apart by folder.
# make dist: the tarball holds VERSION and builds without git (CNN_TEST_DIST=1; CI sets it).
. "$(dirname "$0")/../lib.sh"
build=$(dirname "$BIN")
D=$WORK/stage
P=$D/opt/cnn-dist
make -s -C "$ROOT" BUILD="$build" DESTDIR="$D" PREFIX=/opt/cnn-dist install >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "make install"; }
mkdir -p "$WORK/elsewhere"
cd "$WORK/elsewhere" || fail "cd"

"$P/bin/cnn-dist" --version >v.txt || fail "--version"
version=$(sed -n 's/^cnn-dist \([0-9][^ ]*\)$/\1/p' v.txt)
[ -n "$version" ] || { cat v.txt; fail "--version's first line is not 'cnn-dist VERSION'"; }
grep -q '^kernels: [a-z0-9]* (' v.txt && grep -q '^OpenBLAS [0-9.]*, core ' v.txt && grep -q '^HDF5 1\.' v.txt &&
    grep -q 'MPI' v.txt || { cat v.txt; fail "--version lacks the instruction set or a library"; }

"$P/bin/cnn-dist" --summary cifar10.ini >s.txt 2>&1 || { cat s.txt; fail "--summary cifar10.ini from elsewhere"; }
grep -q '^total: 1068298 parameters' s.txt || { cat s.txt; fail "the installed cifar10.ini is not the network"; }

mpirun -np 2 --oversubscribe --bind-to none "$P/bin/cnn-dist" --set data.dir="$SYNTH" --set train.steps=4 \
    --set run.out_dir="$WORK/r1" tiny.ini >t.log 2>&1 || { cat t.log; fail "training the installed tiny.ini"; }
grep -q "^cnn-dist: tiny ($P/share/cnn-dist/configs/tiny.ini), 2 ranks" t.log ||
    { head -3 t.log; fail "the start line does not name the installed config"; }
for f in "$WORK/r1/ckpt-4.h5" "$WORK/r1/metrics.h5"; do
    h5dump -a producer "$f" | grep -q "\"cnn-dist $version; [a-z0-9]* kernels; OpenBLAS [0-9.]* (.*); HDF5 1\.[0-9.]*; .*MPI" ||
        { h5dump -a producer "$f"; fail "$f does not say what produced it"; }
done
env -u CNN_DIST CNN_RANKS=1 "$P/bin/cnn-run" tiny.ini --set data.dir="$SYNTH" --set train.steps=2 --set run.out_dir="$WORK/r2" \
    >r.log 2>&1 || { cat r.log; fail "the installed cnn-run"; }
grep -q "^step 2: parameter hash" r.log || fail "cnn-run did not train"

MANWIDTH=100 man -l "$P/share/man/man1/cnn-dist.1" >man.txt 2>&1 || { cat man.txt; fail "man -l"; }
grep -q 'cnn-dist - train convolutional networks' man.txt && grep -q -- '--predict CKPT' man.txt &&
    grep -q 'EXIT STATUS' man.txt || { head -40 man.txt; fail "the manual page lacks its sections"; }
for s in "$P/share/cnn-dist/slurm/cifar10.sbatch" "$P/share/cnn-dist/slurm/template.sbatch"; do
    bash -n "$s" || fail "$s does not parse"
done
grep -q '^here=/opt/cnn-dist/share/cnn-dist/slurm$' "$P/share/cnn-dist/slurm/cifar10.sbatch" &&
    grep -q '^bin=${CNN_DIST:-/opt/cnn-dist/bin/cnn-dist}$' "$P/share/cnn-dist/slurm/template.sbatch" ||
    fail "the installed Slurm scripts do not point at the prefix"

make -s -C "$ROOT" BUILD="$build" DESTDIR="$D" PREFIX=/opt/cnn-dist uninstall >/dev/null 2>&1 || fail "make uninstall"
left=$(find "$D" -type f -o -type l; ls -d "$P/share/cnn-dist" "$P/share/doc/cnn-dist" 2>/dev/null || true)
[ -z "$left" ] || fail "make uninstall left: $left"

# plot-metrics: two runs on the same axes
# (both runs are tiny.ini's "tiny": the legend and the summary name their folders)
"$ROOT/scripts/plot-metrics" "$WORK/r1" "$WORK/r2/metrics.h5" --out "$WORK/cmp.png" >plot.txt || fail "plot-metrics"
acc1=$(sed -n 's/^eval step 4: .*test accuracy \([0-9.]*\).*/\1/p' t.log)
acc2=$(sed -n 's/^eval step 2: .*test accuracy \([0-9.]*\).*/\1/p' r.log)
grep -q "^tiny (r1): test accuracy $acc1 at step 4 (the last evaluation), best $acc1 at step 4$" plot.txt &&
    grep -q "^tiny (r2): test accuracy $acc2 at step 2 " plot.txt || { cat plot.txt; fail "plot-metrics' summary ($acc1, $acc2)"; }
/usr/bin/python3 - "$WORK/cmp.png" <<'PY' || fail "the plot is not a PNG of four 11x8 inch panels at 100 dpi"
import sys
from PIL import Image
im = Image.open(sys.argv[1])
assert im.format == "PNG" and im.size == (1100, 800), (im.format, im.size)
PY

if [ "${CNN_TEST_DIST:-}" = 1 ] && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    make -s -C "$ROOT" BUILD="$build" dist >dist.log 2>&1 || { cat dist.log; fail "make dist"; }
    tarball=$(ls "$ROOT"/cnn-dist-*.tar.gz | tail -n 1)
    tar -xzf "$tarball" -C "$WORK" && rm -f "$tarball"
    src=$(ls -d "$WORK"/cnn-dist-*/)
    [ ! -e "$src/.git" ] || fail "the tarball holds .git"
    # -O0: this checks that it builds without git, not how fast it runs
    make -s -C "$src" -j2 OPT=-O0 build/cnn-dist >dist-build.log 2>&1 || { tail -20 dist-build.log; fail "the tarball does not build"; }
    "$src/build/cnn-dist" --version | head -n 1 | grep -q "^cnn-dist $(cat "$src/VERSION")$" ||
        fail "the tarball's build does not report its VERSION"
    echo "make dist: $(basename "$tarball") builds without git"
else
    echo "SKIPPED: make dist's build from the tarball (set CNN_TEST_DIST=1; CI does)"
fi
