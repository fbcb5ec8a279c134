#!/usr/bin/python3
"""resnet20_ref.py: the PyTorch reference of ResNet-20 / ResNet-56 for CIFAR-10 (He et al. 2016,
"Deep Residual Learning for Image Recognition", section 4.2), with "ghost" batch normalisation over
fixed groups of the batch (--bn-group G), the scheme the C trainer will use so that its results do not
depend on the number of ranks. Debian's python3-torch (1.13) and python3-numpy.

    bench/resnet20_ref.py --data /tmp/cifar/cifar-10-batches-bin [--depth 20|56] [--bn-group G]
        [--steps 64000] [--boundaries 32000,48000] [--threads N] [--seed S] [--eval-every K]
        [--save PATH.npz] [--checkpoint PATH.pt [--checkpoint-every K]]
    bench/resnet20_ref.py --check         # unit checks + 3 steps on random data, no --data needed

--checkpoint PATH.pt: the whole training state (step, parameters, BN statistics, SGD momentum, the data
stream's permutation and position, the generator of order and augmentation) written every K steps
(default 2,000), at the end, and on SIGTERM or SIGINT (then it exits); a run given an existing PATH.pt
resumes from it, so the 64k-step reference can be spread over several sittings. The resumed run takes the
same steps as an uninterrupted one (--check shows 3 + 3 steps equal to 6, on the same thread count).

Network: conv3x3 16 (no bias) -> BN -> ReLU; three stages of n basic blocks (depth = 6n + 2: n = 3 for
ResNet-20, 9 for ResNet-56), 16/32/64 filters, the first block of stages 2 and 3 with stride 2; block =
conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU; shortcut option A (see
shortcut_a); global average pooling -> dense 10 (with bias).
Init: conv and dense weights He-normal, std = sqrt(2 / fan_in), fan_in = kh*kw*cin (dense: cin);
dense bias 0; BN gamma 1, beta 0; BN momentum 0.1 (PyTorch convention: r <- (1 - m) r + m batch),
eps 1e-5.
Recipe: SGD lr 0.1, momentum 0.9 (PyTorch's form: v <- mu v + g, w <- w - lr v; Nesterov only with
--nesterov), weight decay 1e-4 on the conv and dense WEIGHTS only -- not on the dense bias, not on BN
gamma/beta -- added to the gradient (g + wd w), as the C trainer does; batch 128; lr divided by 10 at
each boundary (32k and 48k of 64k steps). Cross entropy, mean over the batch.
Data: the CIFAR-10 binary batches (data_batch_1..5.bin: 50,000 training images; test_batch.bin:
10,000 test images). Training stream: the concatenation of epoch permutations (a batch may straddle two
epochs; nothing is dropped), drawn from a torch.Generator seeded with --seed, which also draws the
augmentation. Augmentation: on the [0,1] pixels (byte / 255), zero padding of 4 pixels on each side
(black pixels: they become -mean/std after normalisation), a random 32x32 crop of the 40x40 (offsets
0..8 in each direction, uniform), a horizontal flip with probability 1/2; then per-channel
normalisation (x - mean) / std with mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
Evaluation: the 10,000 test images, normalised, no augmentation, BN with the running statistics.
"""
import argparse
import math
import os
import signal
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
REC = 1 + 3 * 32 * 32


# ---------------------------------------------------------------------------------------------------
# data

def read_batches(paths):
    """CIFAR-10 binary records -> (uint8 images N x 3 x 32 x 32, int64 labels N)."""
    xs, ys = [], []
    for p in paths:
        raw = np.fromfile(p, dtype=np.uint8)
        if raw.size == 0 or raw.size % REC:
            sys.exit(f"{p}: {raw.size} bytes is not a whole number of {REC}-byte records")
        raw = raw.reshape(-1, REC)
        if raw[:, 0].max() > 9:
            sys.exit(f"{p}: label {raw[:, 0].max()} out of range 0..9")
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def normalise(x):
    """float [0,1] pixels N x 3 x H x W -> per-channel standardised."""
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - m) / s


def augment(xb, gen):
    """uint8 B x 3 x 32 x 32 -> float, zero-padded by 4, random 32x32 crop, random h-flip, normalised."""
    b = xb.shape[0]
    x = F.pad(xb.float().div_(255.0), (4, 4, 4, 4))  # zeros = black pixels, before normalisation
    oy = torch.randint(0, 9, (b,), generator=gen)
    ox = torch.randint(0, 9, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    r = torch.arange(32)
    rows = oy[:, None] + r[None, :]                                      # b x 32
    cols = ox[:, None] + torch.where(flip[:, None], 31 - r[None, :], r[None, :])
    x = x[torch.arange(b)[:, None, None, None], torch.arange(3)[None, :, None, None],
          rows[:, None, :, None], cols[:, None, None, :]]
    return normalise(x)


class Stream:
    """Global batch s = positions [s*B, (s+1)*B) of the concatenation of epoch permutations."""

    def __init__(self, n, batch, gen):
        self.n, self.batch, self.gen = n, batch, gen
        self.perm = torch.randperm(n, generator=gen)
        self.pos = 0

    def next(self):
        idx = []
        need = self.batch
        while need:
            take = min(need, self.n - self.pos)
            idx.append(self.perm[self.pos:self.pos + take])
            self.pos += take
            need -= take
            if self.pos == self.n:
                self.perm = torch.randperm(self.n, generator=self.gen)
                self.pos = 0
        return torch.cat(idx)


# ---------------------------------------------------------------------------------------------------
# model

class GhostBN(nn.Module):
    """BatchNorm2d over fixed groups of the batch: in training, samples [g*G, (g+1)*G) of the batch are
    normalised with their own mean and (biased) variance over (sample, H, W) -- G = batch is ordinary BN.
    The running statistics are updated once per step, explicitly:
        running_mean <- (1 - m) running_mean + m * mean_g(mean of group g)
        running_var  <- (1 - m) running_var  + m * mean_g(UNBIASED variance of group g)
    (unbiased: divided by G*H*W - 1). With one group this is nn.BatchNorm2d's rule. Evaluation uses the
    running statistics."""

    def __init__(self, c, group, momentum=0.1, eps=1e-5):
        super().__init__()
        self.c, self.group, self.momentum, self.eps = c, group, momentum, eps
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        n, c, h, w = x.shape
        g = self.group if self.group > 0 else n
        if n % g:
            raise ValueError(f"batch {n} is not a multiple of the BN group {g}")
        k = n // g
        # the normalisation: group j's channel ch becomes channel j*c + ch of a g-sample batch, so that
        # PyTorch's own batch_norm kernel (forward and backward) normalises each (group, channel) apart.
        # Its running statistics at momentum 1 are exactly each group's mean and unbiased variance,
        # which the rule above then averages (no second pass over x for the statistics).
        gmean, gvar = torch.zeros(k * c), torch.ones(k * c)
        if k == 1:
            y = F.batch_norm(x, gmean, gvar, self.weight, self.bias, True, 1.0, self.eps)
        else:
            xr = x.reshape(k, g, c, h, w).transpose(0, 1).reshape(g, k * c, h, w)
            y = F.batch_norm(xr, gmean, gvar, self.weight.repeat(k), self.bias.repeat(k), True, 1.0,
                             self.eps)
            y = y.reshape(g, k, c, h, w).transpose(0, 1).reshape(n, c, h, w)
            # back in x's memory format: the reshapes leave y contiguous, and Debian's PyTorch 1.13 computes
            # F.gelu's gradient wrongly on CPU for a contiguous input whose output gradient is channels_last
            # (what the next channels_last conv gives): airbench94's port went to NaN at step 3 that way
            if x.is_contiguous(memory_format=torch.channels_last):
                y = y.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(gmean.view(k, c).mean(0), alpha=m)
            self.running_var.mul_(1 - m).add_(gvar.view(k, c).mean(0), alpha=m)
        return y


def conv3x3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def shortcut_a(x, cout):
    """He et al.'s option A (identity shortcut; parameter-free where the shape changes).
    Spatial: x[:, :, ::2, ::2] -- output pixel (i, j) = input pixel (2i, 2j), i.e. the top-left pixel of
    each 2x2 cell (rows/columns 0, 2, 4, ...), where the block has stride 2.
    Channels: zero-padded by p = (cout - cin) / 2 channels on EACH side: output channel p + ch = input
    channel ch for ch in [0, cin); output channels [0, p) and [p + cin, cout) are zero.
    16 -> 32: input channels land in 8..23; 32 -> 64: in 16..47."""
    cin = x.shape[1]
    if x.shape[1] == cout:
        return x
    x = x[:, :, ::2, ::2]
    p = (cout - cin) // 2
    return F.pad(x, (0, 0, 0, 0, p, cout - cin - p))


class Block(nn.Module):
    def __init__(self, cin, cout, stride, group):
        super().__init__()
        self.cout = cout
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = GhostBN(cout, group)
        self.conv2 = conv3x3(cout, cout, 1)
        self.bn2 = GhostBN(cout, group)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + shortcut_a(x, self.cout))


class ResNet(nn.Module):
    def __init__(self, depth, group, classes=10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError("depth must be 6n + 2")
        n = (depth - 2) // 6
        self.conv1 = conv3x3(3, 16, 1)
        self.bn1 = GhostBN(16, group)
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(Block(cin, cout, 2 if (stage > 0 and i == 0) else 1, group))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()          # kh*kw*cin (conv), cin (dense)
                with torch.no_grad():
                    mod.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
                    if mod.bias is not None:
                        mod.bias.zero_()

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def decayed_weights(net):
    """Conv and dense weights: the parameters weight decay applies to."""
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def make_optimizer(net, a):
    decay = decayed_weights(net)
    ids = {id(p) for p in decay}
    rest = [p for p in net.parameters() if id(p) not in ids]    # dense bias, BN gamma and beta
    return torch.optim.SGD([{"params": decay, "weight_decay": a.wd},
                            {"params": rest, "weight_decay": 0.0}],
                           lr=a.lr, momentum=a.momentum, nesterov=a.nesterov)


def lr_at(step, a):
    return a.lr * 0.1 ** sum(step >= b for b in a.bounds)


@torch.no_grad()
def evaluate(net, x_u8, y, chunk=500):
    net.eval()
    correct, loss = 0, 0.0
    for i in range(0, x_u8.shape[0], chunk):
        out = net(normalise(x_u8[i:i + chunk].float().div_(255.0)))
        loss += F.cross_entropy(out, y[i:i + chunk], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + chunk]).sum().item()
    net.train()
    return correct / x_u8.shape[0], loss / x_u8.shape[0]


def save_npz(net, path, step):
    arrs = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    arrs["step"] = np.array(step, dtype=np.int64)
    np.savez(path, **arrs)


# ---------------------------------------------------------------------------------------------------
# training

def save_state(path, step, net, opt, stream, gen):
    """The whole training state, written to PATH.tmp and renamed: a crash leaves the previous one."""
    state = {"step": step, "net": net.state_dict(), "opt": opt.state_dict(), "perm": stream.perm,
             "pos": stream.pos, "gen": gen.get_state()}
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_state(path, net, opt, stream, gen):
    state = torch.load(path)
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["opt"])
    stream.perm, stream.pos = state["perm"], state["pos"]
    gen.set_state(state["gen"])
    return state["step"]


def train(a, xtr, ytr, xte, yte, log=print):
    torch.manual_seed(a.seed)                       # initialisation
    gen = torch.Generator().manual_seed(a.seed)     # epoch order and augmentation
    net = ResNet(a.depth, a.bn_group)
    opt = make_optimizer(net, a)
    stream = Stream(xtr.shape[0], a.batch, gen)
    first = 0
    ckpt = getattr(a, "checkpoint", None)
    if ckpt and os.path.exists(ckpt):
        first = load_state(ckpt, net, opt, stream, gen)
        log(f"resumed from step {first} ({ckpt})", flush=True)
    stop = []
    if ckpt:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.append(1))
    t_start = time.perf_counter()
    t_train, seen, loss_sum, loss_n = 0.0, 0, 0.0, 0
    acc = float("nan")
    for step in range(first, a.steps):
        t0 = time.perf_counter()
        lr = lr_at(step, a)
        for grp in opt.param_groups:
            grp["lr"] = lr
        idx = stream.next()
        x = augment(xtr[idx], gen)
        loss = F.cross_entropy(net(x), ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item()
        loss_n += 1
        t_train += time.perf_counter() - t0
        seen += a.batch
        done = step + 1
        if (a.eval_every and done % a.eval_every == 0) or done == a.steps:
            acc, tloss = evaluate(net, xte, yte)
            log(f"step {done} lr {lr:g} train_loss {loss_sum / loss_n:.4f} test_loss {tloss:.4f} "
                f"test_accuracy {acc:.4f} img/s {seen / t_train:.1f} "
                f"wall_s {time.perf_counter() - t_start:.0f}", flush=True)
            t_train, seen, loss_sum, loss_n = 0.0, 0, 0.0, 0
        elif done == a.report_at:   # an early speed reading, no evaluation, nothing reset
            log(f"step {done} lr {lr:g} train_loss {loss_sum / loss_n:.4f} "
                f"img/s {seen / t_train:.1f}", flush=True)
        if ckpt and (done % a.checkpoint_every == 0 or done == a.steps or stop):
            save_state(ckpt, done, net, opt, stream, gen)
            if stop and done < a.steps:
                log(f"stopped by a signal after step {done}; state in {ckpt}; run again to resume", flush=True)
                sys.exit(0)
    wall = time.perf_counter() - t_start
    return net, acc, wall


# ---------------------------------------------------------------------------------------------------
# self-test

def check(a):
    torch.manual_seed(0)
    # 1. ghost BN with G = batch against nn.BatchNorm2d in training mode: forward, gradients, running
    #    statistics (one group: the mean over groups of the unbiased variance is the unbiased variance
    #    of the whole batch, nn.BatchNorm2d's rule)
    for (n, c, h, w) in ((128, 16, 8, 8), (32, 64, 4, 4)):
        x = (torch.randn(n, c, h, w) * 3 + 1.5).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        ref = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
        gb = GhostBN(c, n)
        with torch.no_grad():
            g0, b0 = torch.rand(c) + 0.5, torch.randn(c)
            ref.weight.copy_(g0), ref.bias.copy_(b0), gb.weight.copy_(g0), gb.bias.copy_(b0)
            rm0, rv0 = torch.randn(c), torch.rand(c) + 0.5
            ref.running_mean.copy_(rm0), ref.running_var.copy_(rv0)
            gb.running_mean.copy_(rm0), gb.running_var.copy_(rv0)
        ref.train(), gb.train()
        y1, y2 = ref(x), gb(x2)
        assert (y1 - y2).abs().max() <= 1e-5, "ghost BN (G = batch) forward differs from BatchNorm2d"
        up = torch.randn_like(y1)
        (y1 * up).sum().backward()
        (y2 * up).sum().backward()
        assert (x.grad - x2.grad).abs().max() <= 1e-4
        assert (ref.weight.grad - gb.weight.grad).abs().max() <= 1e-3
        assert (ref.bias.grad - gb.bias.grad).abs().max() <= 1e-3
        assert (ref.running_mean - gb.running_mean).abs().max() <= 1e-5, "running mean differs"
        assert (ref.running_var - gb.running_var).abs().max() <= 1e-5, "running var differs"
        # the explicit rule itself
        xd = x.detach()
        bm = xd.mean(dim=(0, 2, 3))
        bv = xd.var(dim=(0, 2, 3), unbiased=True)
        assert torch.allclose(gb.running_mean, 0.9 * rm0 + 0.1 * bm, atol=1e-5)
        assert torch.allclose(gb.running_var, 0.9 * rv0 + 0.1 * bv, atol=1e-5)
        ref.eval(), gb.eval()
        assert (ref(x.detach()) - gb(x.detach())).abs().max() <= 1e-5, "eval mode differs"
    # 2. G < batch: each group normalised by itself (nn.BatchNorm2d on the group, no running update),
    #    running statistics by the rule: mean over groups of group means / unbiased group variances
    n, c, h, w, g = 128, 8, 6, 6, 16
    x = torch.randn(n, c, h, w) * 2 - 0.5
    x[:g] += 3.0                                        # groups that really differ
    gb = GhostBN(c, g)
    with torch.no_grad():
        gb.weight.copy_(torch.rand(c) + 0.5), gb.bias.copy_(torch.randn(c))
    y = gb(x)
    for j in range(n // g):
        part = x[j * g:(j + 1) * g]
        want = F.batch_norm(part, None, None, gb.weight, gb.bias, True, 0.0, 1e-5)
        assert (y[j * g:(j + 1) * g] - want).abs().max() <= 1e-5, f"group {j} normalised wrongly"
    parts = x.reshape(n // g, g, c, h, w)
    gm = parts.mean(dim=(1, 3, 4)).mean(0)
    gv = parts.var(dim=(1, 3, 4), unbiased=True).mean(0)
    assert torch.allclose(gb.running_mean, 0.1 * gm, atol=1e-5)
    assert torch.allclose(gb.running_var, 0.9 + 0.1 * gv, atol=1e-5)
    # and it is not ordinary BN
    assert (y - F.batch_norm(x, None, None, gb.weight, gb.bias, True, 0.0, 1e-5)).abs().max() > 0.1
    # 2b. channels_last in, channels_last out, and GELU's gradient through it right (airbench94's port:
    #     PyTorch 1.13's CPU gelu backward is wrong for a contiguous input under a channels_last gradient)
    xc = torch.randn(64, 8, 3, 3).contiguous(memory_format=torch.channels_last).requires_grad_()
    gb = GhostBN(8, 16)
    yc = gb(xc)
    assert yc.is_contiguous(memory_format=torch.channels_last), "ghost BN dropped channels_last"
    up = torch.randn(64, 8, 3, 3).contiguous(memory_format=torch.channels_last)
    (F.gelu(yc) * up).sum().backward()
    xd = xc.detach().contiguous().requires_grad_()             # every tensor contiguous: computed right
    (F.gelu(GhostBN(8, 16)(xd)) * up.contiguous()).sum().backward()
    assert (xc.grad - xd.grad).abs().max() <= 1e-5, "GELU's gradient through ghost BN is wrong"
    # 3. shortcut option A
    xs = torch.randn(2, 16, 8, 8)
    s = shortcut_a(xs, 32)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], xs[:, :, ::2, ::2])
    assert not s[:, :8].any() and not s[:, 24:].any()
    # 4. the networks: parameter counts (He et al.: 0.27M and 0.85M)
    counts = {20: 269722, 56: 853018}
    for d, want in counts.items():
        got = sum(p.numel() for p in ResNet(d, 0).parameters())
        assert got == want, f"ResNet-{d}: {got} parameters, expected {want}"
    net = ResNet(20, 0)
    wts = decayed_weights(net)
    assert len(wts) == 20 and all(p.dim() in (2, 4) for p in wts)
    std = net.blocks[8].conv2.weight.std().item()
    assert abs(std - math.sqrt(2 / (9 * 64))) < 0.01, std
    # 5. augmentation: crop offsets and flips land where they should
    gen = torch.Generator().manual_seed(3)
    img = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = augment(img, gen)
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s_ = torch.tensor(STD).view(1, 3, 1, 1)
    raw = out * s_ + m                                   # back to [0,1], padding -> 0
    pad = F.pad(img.float() / 255, (4, 4, 4, 4))
    for i in range(64):
        ok = False
        for oy in range(9):
            for ox in range(9):
                win = pad[i, :, oy:oy + 32, ox:ox + 32]
                if (raw[i] - win).abs().max() < 1e-5 or (raw[i] - win.flip(2)).abs().max() < 1e-5:
                    ok = True
        assert ok, f"augmented image {i} is no crop/flip of its padded source"
    # 6. three training steps on random data, evaluation, --save
    a.steps, a.eval_every, a.report_at = 3, 0, 0
    xtr = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8)
    ytr = torch.randint(0, 10, (512,))
    xte = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8)
    yte = torch.randint(0, 10, (200,))
    t0 = time.perf_counter()
    net, acc, _ = train(a, xtr, ytr, xte, yte)
    assert 0.0 <= acc <= 1.0
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "r.npz")
        save_npz(net, p, 3)
        z = np.load(p)
        assert "blocks.0.bn1.running_var" in z and "fc.bias" in z and int(z["step"]) == 3
        assert np.array_equal(z["conv1.weight"], net.conv1.weight.detach().numpy())
        # 7. a checkpoint after 3 steps and a resume to 6 give the parameters of 6 steps straight
        a.steps, a.checkpoint, a.checkpoint_every = 6, None, 3
        straight, _, _ = train(a, xtr, ytr, xte, yte, log=lambda *x, **k: None)
        a.checkpoint = os.path.join(d, "s.pt")
        a.steps = 3
        train(a, xtr, ytr, xte, yte, log=lambda *x, **k: None)
        a.steps = 6
        resumed, _, _ = train(a, xtr, ytr, xte, yte, log=lambda *x, **k: None)
        for (k, v), (k2, v2) in zip(straight.state_dict().items(), resumed.state_dict().items()):
            assert k == k2 and torch.equal(v, v2), f"resume: {k} differs from the uninterrupted run"
        a.checkpoint = None
    print(f"check: ok (ghost BN = BatchNorm2d at G = batch, groups apart at G < batch, shortcut A, "
          f"parameter counts, augmentation, 3 steps of ResNet-{a.depth} with G = {a.bn_group or a.batch} "
          f"in {time.perf_counter() - t0:.1f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="a cifar-10-batches-bin folder")
    ap.add_argument("--depth", type=int, default=20, choices=(20, 56))
    ap.add_argument("--bn-group", type=int, default=0, help="BN group size G (0 = the batch)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=64000)
    ap.add_argument("--boundaries", default="32000,48000", help="steps where lr is divided by 10")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--wd", type=float, default=1e-4, help="weight decay of conv/dense weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=1000, help="0: only at the end")
    ap.add_argument("--report-at", type=int, default=100,
                    help="also print train loss and img/s after this step (no evaluation)")
    ap.add_argument("--save", help="PATH.npz: parameters and BN statistics at the end")
    ap.add_argument("--checkpoint", help="PATH.pt: the training state, written every --checkpoint-every "
                    "steps, at the end and on SIGTERM/SIGINT; resumed from when it exists")
    ap.add_argument("--checkpoint-every", type=int, default=2000)
    ap.add_argument("--check", action="store_true", help="self-test on random data")
    a = ap.parse_args()
    a.bounds = [int(b) for b in a.boundaries.split(",") if b.strip()]
    if a.bn_group and a.batch % a.bn_group:
        ap.error("--batch must be a multiple of --bn-group")
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    if a.check:
        check(a)
        return
    if not a.data:
        ap.error("--data DIR (a cifar-10-batches-bin folder) or --check")
    xtr, ytr = read_batches([os.path.join(a.data, f"data_batch_{i}.bin") for i in range(1, 6)])
    xte, yte = read_batches([os.path.join(a.data, "test_batch.bin")])
    print(f"resnet{a.depth} bn_group {a.bn_group or a.batch} batch {a.batch} steps {a.steps} "
          f"boundaries {a.bounds} seed {a.seed} threads {a.threads} torch {torch.__version__} "
          f"train {xtr.shape[0]} test {xte.shape[0]}", flush=True)
    net, acc, wall = train(a, xtr, ytr, xte, yte)
    if a.save:
        save_npz(net, a.save, a.steps)
    print(f"final: steps {a.steps} test_accuracy {acc:.4f} wall_s {wall:.0f}", flush=True)


if __name__ == "__main__":
    main()
