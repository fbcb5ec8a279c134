# Using a trained model: --predict on pictures the test writes (PNG, JPEG, grey PNG) and on a CIFAR-10
# batch file; bad files (truncated, not an image, wrong size) each get one line naming the file, exit 1,
# while the good ones are still classified. Then scripts/export to TorchScript and ONNX for tiny.ini,
# a chain with every layer type and option of a chain (the tests' own), a graph with the graph's layer
# types (resblock sections with both shortcuts, batchnorm with trained running statistics, gelu, global
# pools, scale, add, an input named before its section) and the CIFAR-10 network: the PyTorch model's
# logits on the test set equal --predict's to 1e-4 relative and its accuracy equals --eval's to 0.05
# points, also for a checkpoint with train.ema's average (which all three use) and one trained with
# data.mean and data.std. Needs python3-torch and
# python3-onnx (make test installs them); says SKIPPED without.
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
c="--set train.log_every=50 --set train.eval_every=0"

# tiny.ini trained until the synthetic classes are obvious
# shellcheck disable=SC2086
run 1 $c --set train.steps=150 --set run.out_dir="$WORK/tiny" "$TINY" >"$WORK/tiny.log" 2>&1 ||
    { cat "$WORK/tiny.log"; fail "training tiny"; }
CK=$WORK/tiny/ckpt-150.h5

# pictures of classes 0, 3, 6 and 9 as tests/tools/synth-cifar draws them (without the noise), a grey
# one, and bad files
$PY - "$WORK" <<'PY' || fail "writing the test images"
import sys
from PIL import Image
d = sys.argv[1]
def proto(k, side=32):
    base = [(k * 25) % 256, (k * 70 + 40) % 256, (255 - k * 20) % 256]
    sy, sx = (k // 4) * 8 + 4, (k % 4) * 7 + 2
    img = Image.new("RGB", (side, side), tuple(base))
    img.paste(tuple(255 - v // 3 for v in base), (sx, sy, sx + 8, sy + 8))
    return img
proto(0).save(f"{d}/c0.png")
proto(3).save(f"{d}/c3.png")
proto(6).save(f"{d}/c6.jpg", quality=95)
proto(9).save(f"{d}/c9.ppm")
proto(3).convert("L").save(f"{d}/grey.png")
proto(3, 40).save(f"{d}/big.png")
data = open(f"{d}/c0.png", "rb").read()
open(f"{d}/cut.png", "wb").write(data[: len(data) // 2])
open(f"{d}/text.png", "w").write("not an image\n")
PY
names="--set data.class_names=zero,one,two,three,four,five,six,seven,eight,nine"
# shellcheck disable=SC2086
"$BIN" --predict "$CK" --top 2 --set data.dir="$SYNTH" $names "$TINY" "$WORK/c0.png" "$WORK/c3.png" \
    "$WORK/c6.jpg" "$WORK/c9.ppm" "$WORK/grey.png" >"$WORK/pred.txt" 2>"$WORK/pred.err" ||
    { cat "$WORK/pred.txt" "$WORK/pred.err"; fail "--predict on good pictures"; }
for want in "c0.png: zero" "c3.png: three" "c6.jpg: six" "c9.ppm: nine"; do
    grep -q "/$want [0-9.]*, [a-z]* [0-9.]*\$" "$WORK/pred.txt" || { cat "$WORK/pred.txt"; fail "want '$want' first"; }
done
grep -q "/grey.png: [a-z]* [0-9.]*, [a-z]* [0-9.]*\$" "$WORK/pred.txt" || fail "a grey picture is not classified"
rc=0
"$BIN" --predict "$CK" --set data.dir="$SYNTH" "$TINY" "$WORK/cut.png" "$WORK/c3.png" "$WORK/text.png" \
    "$WORK/big.png" "$WORK/missing.png" >"$WORK/bad.txt" 2>"$WORK/bad.err" || rc=$?
[ $rc -eq 1 ] || fail "--predict with bad files exited $rc, want 1"
[ "$(wc -l <"$WORK/bad.err")" -eq 4 ] || { cat "$WORK/bad.err"; fail "want one line per bad file"; }
grep -q "cut.png: not an image cnn-dist can read" "$WORK/bad.err" || fail "truncated PNG"
grep -q "text.png: not an image cnn-dist can read" "$WORK/bad.err" || fail "text file"
grep -q "big.png: a 40x40 image with 3 channels; the network takes 32x32 with 3" "$WORK/bad.err" || fail "size"
grep -q "missing.png: No such file" "$WORK/bad.err" || fail "missing file"
grep -q "/c3.png: 3 " "$WORK/bad.txt" || fail "the good file among bad ones was not classified"
rc=0
"$BIN" --predict "$CK" --top 0 --set data.dir="$SYNTH" "$TINY" "$WORK/c3.png" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "--top 0 was accepted"

if ! $PY -c "import torch, onnx" 2>/dev/null; then
    echo "SKIPPED: scripts/export (python3-torch and python3-onnx are not installed)"
    exit 0
fi

# A config with every layer type and option the exporter maps (stride, VALID and SAME, every pooling
# and activation, LRN with another radius and beta, dropout), on the same 32x32x3 data.
cat >"$WORK/every.ini" <<'INI'
[data]
format = cifar10
train = data_batch_1.bin
crop = 28
flip = true
standardize = true
[train]
batch = 32
steps = 30
[c1]
type = conv
filters = 8
size = 3
stride = 2
padding = valid
activation = tanh
[p1]
type = avgpool
size = 3
stride = 2
padding = same
[n1]
type = lrn
radius = 2
bias = 2
alpha = 0.01
beta = 0.5
[c2]
type = conv
filters = 16
size = 2
stride = 1
padding = same
activation = sigmoid
[p2]
type = maxpool
size = 2
stride = 1
padding = valid
[d1]
type = dense
units = 24
activation = relu
[drop]
type = dropout
keep = 0.5
[out]
type = dense
units = 10
activation = linear
INI
# shellcheck disable=SC2086
run 1 $c --set train.steps=30 --set run.out_dir="$WORK/every" "$WORK/every.ini" >"$WORK/every.log" 2>&1 ||
    { cat "$WORK/every.log"; fail "training every.ini"; }
# A graph: conv without biases -> batchnorm -> relu -> two resblock sections (option A: subsampling
# and zero channels, 5 -> 8 so (8 - 5) // 2 = 1 before, 2 after; option B: a projection) -> gelu ->
# global average pool -> scale, added to a global max-pool branch whose section comes after the add ->
# dense without biases, added to its own input (a dense output beside a 1x1xC one) -> pad_channels
# -> batchnorm (no beta) -> dense 10.
cat >"$WORK/graph.ini" <<'INI'
[data]
format = cifar10
train = data_batch_1.bin
crop = 24
flip = true
[train]
batch = 32
steps = 40
[c1]
type = conv
filters = 5
size = 3
padding = same
use_bias = false
init = he_normal
[bn1]
type = batchnorm
[relu1]
type = act
activation = relu
[stage1]
type = resblock
filters = 8
stride = 2
repeat = 2
shortcut = A
[stage2]
type = resblock
filters = 12
stride = 2
shortcut = B
[gelu]
type = act
activation = gelu
[avg]
type = global_avgpool
[half]
type = scale
factor = 0.5
[join]
type = add
input = half, peak
[peak]
type = global_maxpool
input = stage2
[hidden]
type = dense
input = join
units = 12
use_bias = false
activation = tanh
[mix]
type = add
input = hidden, join
[wide]
type = pad_channels
channels = 15
[bn2]
type = batchnorm
epsilon = 0.001
center = false
[out]
type = dense
units = 10
activation = linear
INI
# shellcheck disable=SC2086
run 1 $c --set run.out_dir="$WORK/graph" "$WORK/graph.ini" >"$WORK/graph.log" 2>&1 ||
    { cat "$WORK/graph.log"; fail "training graph.ini"; }
# 40 steps of momentum 0.1 have moved every running statistic off its start (0 and 1)
$PY - "$WORK/graph/ckpt-40.h5" <<'PY' || fail "graph.ini's batchnorm running statistics did not move"
import sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
names = [n for n in f["params"] if "moving_mean" in f["params"][n]]
assert len(names) == 9, names
for n in names:
    assert np.abs(f[f"params/{n}/moving_mean"][...]).max() > 0.01, n
    assert np.abs(f[f"params/{n}/moving_variance"][...] - 1).max() > 0.01, n
PY
# shellcheck disable=SC2086
run 1 $c --set train.steps=3 --set train.batch=32 --set data.train=data_batch_1.bin --set run.out_dir="$WORK/cifar" "$ROOT/configs/cifar10.ini" \
    >"$WORK/cifar.log" 2>&1 || { cat "$WORK/cifar.log"; fail "training cifar10.ini"; }

check_export() { # check_export CKPT CONFIG
    "$ROOT/scripts/export" "$1" "$2" --format pytorch "$WORK/m.pt" >/dev/null || fail "export $2 to pytorch"
    "$ROOT/scripts/export" "$1" "$2" --format onnx "$WORK/m.onnx" >/dev/null || fail "export $2 to onnx"
    "$BIN" --predict "$1" --json --set data.dir="$SYNTH" "$2" "$SYNTH/test_batch.bin" "$WORK/c3.png" 2>/dev/null \
        >"$WORK/p.jsonl" || fail "--predict --json with $2"
    acc=$("$BIN" --eval "$1" --set data.dir="$SYNTH" "$2" | sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p')
    $PY - "$WORK/m.pt" "$WORK/p.jsonl" "$SYNTH/test_batch.bin" "$WORK/c3.png" "$acc" "$WORK/m.onnx" <<'PY' ||
import json, sys
import numpy as np, onnx, torch
from PIL import Image
pt, jl, batch, png, acc, onx = sys.argv[1:]
m = torch.jit.load(pt)
raw = np.fromfile(batch, dtype=np.uint8).reshape(-1, 3073)
x = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32)
x = np.concatenate([x, np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)[None]])
with torch.no_grad():
    got = m(torch.from_numpy(x)).numpy()
want = np.array([json.loads(line)["logits"] for line in open(jl)])
rel = np.abs(got - want).max() / np.abs(want).max()
torch_acc = float((got[:-1].argmax(1) == raw[:, 0]).mean())
print(f"logits: max |pytorch - cnn-dist| / max |logit| = {rel:.2e}; accuracy pytorch {torch_acc:.4f}, --eval {acc}")
assert got.shape == want.shape, (got.shape, want.shape)
assert rel <= 1e-4, rel
assert abs(torch_acc - float(acc)) <= 0.0005, (torch_acc, acc)
g = onnx.load(onx).graph
assert [i.name for i in g.input] == ["image"] and [o.name for o in g.output] == ["logits"]
PY
        fail "the exported model of $2 does not answer like cnn-dist"
}
check_export "$CK" "$TINY"
# a checkpoint with train.ema's average: --predict, --eval and the export all use the average
# shellcheck disable=SC2086
run 1 $c --set train.steps=40 --set train.ema=0.99 --set run.out_dir="$WORK/ema" "$TINY" >"$WORK/ema.log" 2>&1 ||
    { cat "$WORK/ema.log"; fail "training with train.ema"; }
check_export "$WORK/ema/ckpt-40.h5" "$TINY"
"$BIN" --predict "$WORK/ema/ckpt-40.h5" --set data.dir="$SYNTH" "$TINY" "$WORK/c3.png" 2>&1 >/dev/null |
    grep -q 'its averaged parameters (train.ema' || fail "--predict does not say it uses the average"
"$BIN" --predict "$WORK/ema/ckpt-40.h5" --raw --json --set data.dir="$SYNTH" "$TINY" "$WORK/c3.png" >"$WORK/raw.json"
"$BIN" --predict "$WORK/ema/ckpt-40.h5" --json --set data.dir="$SYNTH" "$TINY" "$WORK/c3.png" >"$WORK/avg.json"
! cmp -s "$WORK/raw.json" "$WORK/avg.json" || fail "--raw gives the same logits as the average"
check_export "$WORK/every/ckpt-30.h5" "$WORK/every.ini"
check_export "$WORK/graph/ckpt-40.h5" "$WORK/graph.ini"
check_export "$WORK/cifar/ckpt-3.h5" "$ROOT/configs/cifar10.ini"
# tiny.ini with data.mean and data.std in place of standardize
sed 's/^standardize = true$/standardize = false\nmean = 0.4914, 0.4822, 0.4465\nstd = 0.2470, 0.2435, 0.2616/' "$TINY" >"$WORK/norm.ini"
grep -q '^std = ' "$WORK/norm.ini" || fail "norm.ini has no data.std"
# shellcheck disable=SC2086
run 1 $c --set train.steps=20 --set run.out_dir="$WORK/norm" "$WORK/norm.ini" >"$WORK/norm.log" 2>&1 ||
    { cat "$WORK/norm.log"; fail "training with data.mean and data.std"; }
check_export "$WORK/norm/ckpt-20.h5" "$WORK/norm.ini"
# a config whose layers are not the checkpoint's is refused
"$ROOT/scripts/export" "$CK" "$WORK/every.ini" --format pytorch "$WORK/x.pt" 2>"$WORK/x.err" &&
    fail "export accepted another network's config"
grep -q "are not the checkpoint's" "$WORK/x.err" || { cat "$WORK/x.err"; fail "mismatch message"; }
# a resblock section that expands into other layers than the checkpoint's (another repeat) is refused
sed 's/^repeat = 2$/repeat = 3/' "$WORK/graph.ini" >"$WORK/graph3.ini"
"$ROOT/scripts/export" "$WORK/graph/ckpt-40.h5" "$WORK/graph3.ini" --format pytorch "$WORK/x.pt" 2>"$WORK/x.err" &&
    fail "export accepted a resblock of another repeat"
grep -q "are not the checkpoint's" "$WORK/x.err" || { cat "$WORK/x.err"; fail "resblock mismatch message"; }
