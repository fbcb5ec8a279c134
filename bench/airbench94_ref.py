#!/usr/bin/python3
"""airbench94_ref.py: the PyTorch CPU reference of airbench94's CIFAR-10 training recipe.

Keller Jordan's airbench94.py (2024; github.com/KellerJordan/cifar10-airbench; "94% on CIFAR-10 in 3.29
seconds on a single GPU"), ported to the CPU so that cnn-dist's airbench94 network
and recipe (configs/airbench94.ini) can be compared with it: the same network, initialisation,
optimiser, schedules, augmentation, lookahead and test-time augmentation. Debian's python3-torch (1.13)
and python3-numpy; no torchvision.

    bench/airbench94_ref.py --data /work/runs/cifar [--seed 0] [--threads 2] [--epochs 9.9]
        [--batch 1024] [--tta 0|1|2] [--steps N] [--json FILE] [--bn-group G]

--bn-group G normalises fixed groups of G samples of the batch, as cnn-dist does (its train.micro_batch;
configs/airbench94.ini: 128), instead of the whole batch of 1,024 as airbench does. --data: the folder of the CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)
or its parent holding cifar-10-batches-bin/. --steps N stops after N optimiser steps (a smoke test; the
schedules keep the full run's step count, and every step's loss is printed). --json FILE writes the
results, the timings and one row per epoch.

Differences from airbench94.py, none of them in the recipe:
- CPU, float32 everywhere (the original runs the network in half precision with float32 BatchNorm);
  channels_last as there. torch.manual_seed(--seed) once at the start; one generator draws the
  initialisation, the flips, crops and epoch orders (on the GPU the data's draws come from the CUDA
  generator), so a seed does not reproduce a GPU run's numbers, only its distribution.
- Reads the binary CIFAR-10 files (uint8, CHW) instead of torchvision's dataset; normalisation, flips,
  reflect padding and crops are plain torch operations.
- One run per invocation (the original averages 25), no warm-up run, no torch.compile.
- Timing: "wall" is everything from the whitening initialisation to the end of the TTA evaluation,
  per-epoch evaluations included; the original's own clock leaves those out, and is also reported
  ("airbench clock": whitening init + training + final TTA evaluation). Reading the files is outside
  both, as the original's data loading is. The per-epoch train_loss / train_acc are those of the
  epoch's last batch, as the original prints them.

The recipe, as airbench94.py has it:
- Hyperparameters in "decoupled" form: lr 11.5 and weight decay 0.0153 per 1,024 examples; with Nesterov
  momentum 0.85 the SGD learning rate is 11.5 / k, k = 1024 (1 + 1 / (1 - 0.85)), and the SGD weight
  decay wd = 0.0153 * batch / k is divided by the group's lr (so the decay per step is wd * w, times the
  schedule). BatchNorm biases take 64x the learning rate, not more decay. Label smoothing 0.2, the loss
  summed over the batch. Batch 1,024, the last partial batch dropped (48 steps an epoch);
  ceil(48 * 9.9) = 476 steps.
- Learning-rate schedule, a multiplier per step (step i runs at lr * s[i]): linear from 0.2 at step 0 to
  1 at step int(0.23 * 476) = 109, then linear to 0.07 at step 476 (computed in float32 as there).
- Network: whitening conv 2x2, 3 -> 24, no padding, with bias (32 -> 31), GELU; three groups of 64, 256,
  256 filters, each conv3x3 (same padding, no bias) -> maxpool 2 -> BatchNorm -> GELU -> conv3x3 ->
  BatchNorm -> GELU; maxpool 3; dense 256 -> 10 without bias; x 1/9. Convolutions: PyTorch's default
  initialisation, then the first c_in filters set to the identity (Dirac) and any bias zeroed. BatchNorm:
  eps 1e-12, momentum 0.4 (PyTorch's sense; the original's 0.6 is the running average's weight), the
  scale frozen at 1, the bias trained. GELU is the exact (erf) form.
- Whitening: from the first 5,000 training images (normalised, not augmented), the uncentred covariance
  of all their 2x2x3 patches; its eigenvectors, in descending order of eigenvalue, each divided by
  sqrt(eigenvalue + 5e-4), are the first 12 filters and their negatives the other 12. The weight never
  trains; the bias trains during the first 3 epochs only.
- Lookahead: from epoch 3 on, every 5 steps: the first time, a copy of all the network's state (its
  state_dict: parameters and BatchNorm running statistics); later, copy <- copy + (1 - rho) (net - copy)
  with rho = 0.95^5 (step / 476)^3, and the network <- copy. At the end of every epoch once the copy
  exists, the network <- copy.
- Data: pixels / 255, normalised by the CIFAR mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435,
  0.2616). At the first epoch each training image is flipped left-right with probability 1/2, once and
  for all, then reflect-padded by 2. Each epoch: for each image a crop of 32x32 at one of the 25 offsets
  (uniform), the whole set flipped at odd epochs, a fresh random order.
- Evaluation after each epoch (BatchNorm's running statistics, batches of 2,000, no augmentation): the
  label-smoothed loss and the accuracy. At the end, test-time augmentation: level 1 averages the logits
  of the image and its mirror; level 2 takes 0.5 x that + 0.5 x the mean of the same for the image moved
  one pixel up-left and one pixel down-right (reflect-padded by 1, crops [0:32, 0:32] and [2:34, 2:34]).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet20_ref import GhostBN, read_batches, normalise  # noqa: E402  (BN over fixed groups, data)

# the recipe's constants (airbench94.py's hyperparameters)
LR = 11.5                   # per 1,024 examples
WEIGHT_DECAY = 0.0153       # per 1,024 examples, decoupled from the learning rate
MOMENTUM = 0.85             # Nesterov
BIAS_SCALER = 64.0          # learning-rate factor of the BatchNorm biases
LABEL_SMOOTHING = 0.2
LOOKAHEAD_START_EPOCH = 3
LOOKAHEAD_EVERY = 5
LOOKAHEAD_BASE = 0.95
LOOKAHEAD_POW = 3.0
WHITEN_BIAS_EPOCHS = 3
WHITEN_EPS = 5e-4
WHITEN_IMAGES = 5000
TRANSLATE = 2
WIDTHS = (64, 256, 256)
BN_EPS = 1e-12
BN_MOMENTUM = 0.4           # PyTorch convention: running <- 0.6 running + 0.4 batch
OUT_SCALE = 1.0 / 9.0
TEST_BATCH = 2000


# ---------------------------------------------------------------------------------------------------
# data

def data_dir(path):
    """The folder holding data_batch_1.bin: PATH itself or PATH/cifar-10-batches-bin."""
    for d in (path, os.path.join(path, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(d, "data_batch_1.bin")):
            return d
    sys.exit(f"{path}: no data_batch_1.bin there nor in {path}/cifar-10-batches-bin")


def to_input(x_u8):
    """uint8 N x 3 x 32 x 32 -> normalised float32."""
    return normalise(x_u8.float().div_(255.0))


def random_crops(padded, size):
    """A size x size window of each padded image, at an offset drawn uniformly per image (both axes)."""
    n, c, hp, _ = padded.shape
    span = hp - size + 1                                    # 5 offsets per axis for a 2-pixel pad
    off = torch.randint(0, span, (n, 2))
    out = torch.empty(n, c, size, size, dtype=padded.dtype)
    key = off[:, 0] * span + off[:, 1]
    for k in range(span * span):                            # one slice per (dy, dx): 25 copies
        sel = (key == k).nonzero().flatten()
        if sel.numel():
            dy, dx = divmod(k, span)
            out[sel] = padded[sel, :, dy:dy + size, dx:dx + size]
    return out


class TrainData:
    """airbench's training stream: pre-flipped, reflect-padded images, re-cropped every epoch, the whole
    set mirrored at odd epochs, a fresh permutation each epoch, partial last batch dropped."""

    def __init__(self, x_u8, y, batch):
        self.x_u8, self.y, self.batch = x_u8, y, batch
        self.padded = None
        self.epoch = 0

    def __len__(self):
        return self.y.shape[0] // self.batch

    def batches(self):
        if self.padded is None:                             # first epoch: the fixed random flip + pad
            x = to_input(self.x_u8)
            flip = torch.rand(x.shape[0]) < 0.5
            x[flip] = x[flip].flip(-1)
            self.padded = F.pad(x, (TRANSLATE,) * 4, mode="reflect")
            del x
        x = random_crops(self.padded, 32)
        if self.epoch % 2 == 1:
            x = x.flip(-1)
        self.epoch += 1
        order = torch.randperm(x.shape[0])
        for i in range(len(self)):
            idx = order[i * self.batch:(i + 1) * self.batch]
            yield x[idx].contiguous(memory_format=torch.channels_last), self.y[idx]


# ---------------------------------------------------------------------------------------------------
# network

def conv(cin, cout, k=3, padding=1, bias=False):
    """nn.Conv2d with PyTorch's default initialisation, then identity (Dirac) filters for the first cin
    output channels and a zero bias."""
    m = nn.Conv2d(cin, cout, k, padding=padding, bias=bias)
    with torch.no_grad():
        nn.init.dirac_(m.weight[:cin])
        if m.bias is not None:
            m.bias.zero_()
    return m


BN_GROUP = 0                # --bn-group: 0 = BatchNorm over the whole batch (airbench's)


def batchnorm(c):
    if BN_GROUP:                                            # cnn-dist's scheme: fixed groups of the batch
        bn = GhostBN(c, BN_GROUP, momentum=BN_MOMENTUM, eps=BN_EPS)
    else:
        bn = nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)
    bn.weight.requires_grad_(False)                         # scale stays 1; only the bias trains
    return bn


class ConvGroup(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = conv(cin, cout)
        self.norm1 = batchnorm(cout)
        self.conv2 = conv(cout, cout)
        self.norm2 = batchnorm(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.whiten = conv(3, 24, k=2, padding=0, bias=True)   # 32 -> 31
        self.whiten.weight.requires_grad_(False)
        groups, cin = [], 24
        for w in WIDTHS:                                        # 31 -> 15 -> 7 -> 3
            groups.append(ConvGroup(cin, w))
            cin = w
        self.groups = nn.Sequential(*groups)
        self.head = nn.Linear(cin, 10, bias=False)

    def forward(self, x):
        x = self.groups(F.gelu(self.whiten(x)))
        x = F.max_pool2d(x, 3).flatten(1)                       # 3 -> 1
        return self.head(x) * OUT_SCALE


def patch_matrix(x, k):
    """Every k x k patch of x (N x C x H x W) as a row of C*k*k values, in a conv filter's layout."""
    cols = F.unfold(x, k)                                   # N x (C*k*k) x L
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


@torch.no_grad()
def init_whitening(layer, x):
    """The whitening filters from the patches of x: eigenvectors of their (uncentred) covariance,
    largest eigenvalue first, scaled by 1 / sqrt(eigenvalue + eps), then the same negated."""
    cout, cin, k, _ = layer.weight.shape
    p = patch_matrix(x, k)
    cov = p.T @ p / p.shape[0]
    evals, evecs = torch.linalg.eigh(cov, UPLO="U")        # ascending
    evals, evecs = evals.flip(0), evecs.T.flip(0)          # descending, one eigenvector a row
    filt = (evecs / torch.sqrt(evals + WHITEN_EPS)[:, None]).reshape(-1, cin, k, k)
    layer.weight.copy_(torch.cat((filt, -filt)))
    return evals


# ---------------------------------------------------------------------------------------------------
# schedule, optimiser, lookahead

def triangle(total, start, peak_frac, end):
    """Per-step multipliers for steps 0..total: linear start -> 1 at int(peak_frac * total) -> end.
    float32 arithmetic, slope and intercept per segment, as the original computes it."""
    knots = [0, int(peak_frac * total), total]
    vals = torch.tensor([start, 1.0, end])                  # float32
    steps = torch.arange(total + 1)
    seg = (steps >= knots[1]).long()                         # 0 before the peak, 1 from it on
    slope = torch.stack([(vals[j + 1] - vals[j]) / (knots[j + 1] - knots[j]) for j in (0, 1)])
    icept = torch.stack([vals[j] - slope[j] * knots[j] for j in (0, 1)])
    return slope[seg] * steps + icept[seg]


def make_optimizer(net, batch):
    k = 1024 * (1 + 1 / (1 - MOMENTUM))
    lr = LR / k
    wd = WEIGHT_DECAY * batch / k
    lr_bias = lr * BIAS_SCALER
    bn_ids = {id(m.bias) for m in net.modules() if isinstance(m, (nn.BatchNorm2d, GhostBN))}
    trained = [p for p in net.parameters() if p.requires_grad]
    bn_biases = [p for p in trained if id(p) in bn_ids]
    others = [p for p in trained if id(p) not in bn_ids]    # whitening bias, conv and dense weights
    groups = [dict(params=bn_biases, lr=lr_bias, weight_decay=wd / lr_bias),
              dict(params=others, lr=lr, weight_decay=wd / lr)]
    opt = torch.optim.SGD(groups, momentum=MOMENTUM, nesterov=True)
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    return opt


def set_lr(opt, mult):
    """LambdaLR's rule: lr = initial lr x the step's multiplier (a float32 0-d tensor, as there)."""
    for g in opt.param_groups:
        g["lr"] = float(g["initial_lr"] * mult)


class Lookahead:
    """A copy of the network's whole state_dict, pulled towards the network and copied back into it."""

    def __init__(self, net):
        self.copy = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net, rho):
        for k, v in net.state_dict().items():
            if v.is_floating_point():                       # not num_batches_tracked
                self.copy[k].lerp_(v, 1.0 - rho)
                v.copy_(self.copy[k])


# ---------------------------------------------------------------------------------------------------
# evaluation

@torch.no_grad()
def evaluate(net, x, y, loss_fn):
    """-> (mean label-smoothed loss, accuracy) without augmentation, in batches of 2,000."""
    net.eval()
    losses, accs = [], []
    for xb, yb in zip(x.split(TEST_BATCH), y.split(TEST_BATCH)):
        out = net(xb.contiguous(memory_format=torch.channels_last))
        losses.append(loss_fn(out, yb).mean())
        accs.append((out.argmax(1) == yb).float().mean())
    return torch.stack(losses).mean().item(), torch.stack(accs).mean().item()


def logits_mirror(net, x):
    return 0.5 * net(x) + 0.5 * net(x.flip(-1))


def logits_tta(net, x, level):
    x = x.contiguous(memory_format=torch.channels_last)
    if level == 0:
        return net(x)
    if level == 1:
        return logits_mirror(net, x)
    pad = F.pad(x, (1, 1, 1, 1), mode="reflect")
    moved = [pad[:, :, 0:32, 0:32], pad[:, :, 2:34, 2:34]]  # up-left, down-right by one pixel
    moved = torch.stack([logits_mirror(net, m.contiguous(memory_format=torch.channels_last))
                         for m in moved]).mean(0)
    return 0.5 * logits_mirror(net, x) + 0.5 * moved


@torch.no_grad()
def evaluate_tta(net, x, y, level):
    net.eval()
    logits = torch.cat([logits_tta(net, xb, level) for xb in x.split(TEST_BATCH)])
    return (logits.argmax(1) == y).float().mean().item()


# ---------------------------------------------------------------------------------------------------
# training

def run(a, xtr_u8, ytr, xte_u8, yte):
    torch.manual_seed(a.seed)
    net = Net().to(memory_format=torch.channels_last)
    opt = make_optimizer(net, a.batch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING, reduction="none")
    data = TrainData(xtr_u8, ytr, a.batch)
    total = math.ceil(len(data) * a.epochs)
    stop = min(total, a.steps) if a.steps else total
    sched = triangle(total, start=0.2, peak_frac=0.23, end=0.07)
    xte = to_input(xte_u8)

    t_start = time.perf_counter()
    evals = init_whitening(net.whiten, to_input(xtr_u8[:WHITEN_IMAGES]))
    t_whiten = time.perf_counter() - t_start
    t_train = t_eval = t_tta = 0.0

    head = (f"{'epoch':>5} {'step':>5} {'train_loss':>10} {'train_acc':>9} {'val_loss':>8} "
            f"{'val_acc':>7} {'seconds':>8}")
    print(head + "\n" + "-" * len(head), flush=True)
    rows, step_losses = [], []
    lookahead, step = None, 0
    val_loss = val_acc = float("nan")
    for epoch in range(math.ceil(a.epochs)):
        t0 = time.perf_counter()
        net.whiten.bias.requires_grad_(epoch < WHITEN_BIAS_EPOCHS)
        net.train()
        for xb, yb in data.batches():
            set_lr(opt, sched[step])
            out = net(xb)
            loss = loss_fn(out, yb).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if epoch >= LOOKAHEAD_START_EPOCH and step % LOOKAHEAD_EVERY == 0:
                if lookahead is None:
                    lookahead = Lookahead(net)
                else:
                    rho = LOOKAHEAD_BASE ** LOOKAHEAD_EVERY * (step / total) ** LOOKAHEAD_POW
                    lookahead.update(net, rho)
            if a.steps:
                step_losses.append(loss.item() / a.batch)
                print(f"  step {step} lr {opt.param_groups[1]['lr']:.6g} "
                      f"train_loss {step_losses[-1]:.4f}", flush=True)
            if step >= stop:
                break
        if lookahead is not None:
            lookahead.update(net, 1.0)                      # end of epoch: the network <- the copy
        t_train += time.perf_counter() - t0
        train_loss = loss.item() / a.batch                  # the epoch's last batch, as airbench
        train_acc = (out.detach().argmax(1) == yb).float().mean().item()

        t0 = time.perf_counter()
        val_loss, val_acc = evaluate(net, xte, yte, loss_fn)
        t_eval += time.perf_counter() - t0
        so_far = time.perf_counter() - t_start
        rows.append(dict(epoch=epoch + 1, step=step, train_loss=train_loss, train_acc=train_acc,
                         val_loss=val_loss, val_acc=val_acc, seconds_so_far=so_far))
        print(f"{epoch + 1:5d} {step:5d} {train_loss:10.4f} {train_acc:9.4f} {val_loss:8.4f} "
              f"{val_acc:7.4f} {so_far:8.1f}", flush=True)
        if step >= stop:
            break

    t0 = time.perf_counter()
    tta_acc = evaluate_tta(net, xte, yte, a.tta)
    t_tta = time.perf_counter() - t0
    wall = time.perf_counter() - t_start
    res = dict(seed=a.seed, bn_group=a.bn_group or a.batch, steps=step, total_steps=total, epochs=a.epochs,
               epochs_done=step * a.batch / xtr_u8.shape[0], batch=a.batch,
               accuracy=val_acc, accuracy_tta=tta_acc, tta_level=a.tta, test_loss=val_loss,
               wall_s=wall, train_s=t_train, whiten_s=t_whiten, eval_s=t_eval + t_tta,
               tta_eval_s=t_tta, airbench_clock_s=t_whiten + t_train + t_tta,
               torch=torch.__version__, threads=a.threads,
               whitening_eigenvalues=evals.tolist(), per_epoch=rows)
    if a.steps:
        res["step_train_losses"] = step_losses
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True,
                    help="the cifar-10-batches-bin folder (or the folder that holds it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=9.9)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--tta", type=int, default=2, choices=(0, 1, 2), help="test-time augmentation level")
    ap.add_argument("--steps", type=int, default=0,
                    help="stop after N optimiser steps (the schedules keep the full run's length)")
    ap.add_argument("--json", help="write the results and per-epoch rows to this file")
    ap.add_argument("--bn-group", type=int, default=0,
                    help="BatchNorm over fixed groups of G samples (cnn-dist's micro_batch); 0 = the whole batch")
    a = ap.parse_args()
    if a.bn_group and a.batch % a.bn_group:
        ap.error("--batch must be a multiple of --bn-group")
    global BN_GROUP
    BN_GROUP = a.bn_group
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    d = data_dir(a.data)
    xtr, ytr = read_batches([os.path.join(d, f"data_batch_{i}.bin") for i in range(1, 6)])
    xte, yte = read_batches([os.path.join(d, "test_batch.bin")])
    print(f"airbench94 reference: torch {torch.__version__}, {a.threads} threads, seed {a.seed}, "
          f"batch {a.batch}, epochs {a.epochs}, tta {a.tta}, train {xtr.shape[0]}, test {xte.shape[0]}",
          flush=True)
    r = run(a, xtr, ytr, xte, yte)
    print(f"airbench94 (PyTorch {r['torch']}, {a.threads} threads): seed {a.seed}, {r['steps']} steps, "
          f"accuracy {r['accuracy']:.4f} without TTA, {r['accuracy_tta']:.4f} with TTA level {a.tta}, "
          f"wall {r['wall_s']:.1f} s (train {r['train_s']:.1f}, eval {r['eval_s']:.1f}, "
          f"whitening {r['whiten_s']:.1f}; airbench clock {r['airbench_clock_s']:.1f})", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
