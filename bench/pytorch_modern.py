#!/usr/bin/python3
"""pytorch_modern.py: PyTorch's training-step speed on the two "modern" networks of `make bench`, the
PyTorch column beside cnn-dist's rows for configs/resnet20.ini and configs/airbench94.ini.

    bench/pytorch_modern.py [--threads N] [--net resnet20|airbench94] [--batch B] [--steps S]
        [--warmup W]
    bench/pytorch_modern.py --check      # one small step of each network, shapes and counts checked

Without --net it times ResNet-20 at batch 128 and the airbench94 network at batch 256 and 1,024.
A training step is forward + backward + an SGD momentum step, fp32, channels_last, flush-denormal on,
on one fixed batch of random images (N(0, 1), 32x32x3) and random labels; W untimed steps, then S timed
ones. Prints one line per network and batch:

    pytorch-bench net=resnet20 batch=128 threads=2 steps=30 img_per_s=... mflop_per_img=242.40 gflops=...

The networks:
- ResNet-20 as bench/resnet20_ref.py builds it (imported from there), with its SGD (momentum 0.9,
  weight decay 1e-4 on the weights). Its BatchNorm layers (GhostBN) become nn.BatchNorm2d over the whole
  batch (--bn-group 0, the default): the same function (resnet20_ref.py --check shows GhostBN at G =
  batch equals it) on PyTorch's own fused kernel; GhostBN's explicit running statistics cost about 30%
  of the step here. --bn-group G keeps the reference's GhostBN with groups of G (cnn-dist's config
  normalises over its micro-shards of 32).
- airbench94's network (Keller Jordan 2024, cifar10-airbench, airbench94.py), its shape and its frozen
  tensors: a 2x2 convolution 3 -> 24 without padding, with bias (the whitening layer; its weight gets no
  gradient), GELU, three blocks of 64, 256, 256 filters (conv3x3 padding 1 no bias -> maxpool 2 ->
  BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU; BatchNorm with epsilon 1e-12, momentum 0.4 in
  PyTorch's sense, the affine weight frozen at 1, the bias trained), maxpool 3, dense 256 -> 10 without
  bias, x 1/9; SGD with Nesterov momentum 0.85, label smoothing 0.2 on a summed loss, as there. Not its
  initialisation (whitening, identity convolutions), which does not change the step's work, nor its
  recipe. GELU is the exact (erf) form, as nn.GELU's default.

Training MFLOP per image: the multiply-adds of every convolution and dense layer x 2 for the forward,
x 3 for forward + data gradient + weight gradient, less the first layer's data gradient (nothing reads
the image's gradient). The same count for both columns of `make bench`, though PyTorch also skips the
frozen whitening weight's gradient here (0.55 MFLOP of 708); cnn-dist's `--summary` also counts
BatchNorm, activations and pooling, so its figure is 0.2-1.5% higher.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resnet20_ref  # noqa: E402  (bench/resnet20_ref.py: the ResNet-20 reference's network)
from airbench94_ref import Net as AirNet  # noqa: E402  (bench/airbench94_ref.py: airbench94's network)

# the rows of `make bench`: network, batch
DEFAULT_RUNS = (("resnet20", 128), ("airbench94", 256), ("airbench94", 1024))


# ---------------------------------------------------------------------------------------------------
# the two networks' training steps

def native_bn(net):
    """Every GhostBN of a resnet20_ref network -> nn.BatchNorm2d with its channels, eps and momentum."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, resnet20_ref.GhostBN):
                setattr(parent, name, nn.BatchNorm2d(child.c, eps=child.eps, momentum=child.momentum))
    return net


def build(net_name, bn_group):
    """-> (network, optimizer, loss(logits, labels))"""
    if net_name == "resnet20":
        net = resnet20_ref.ResNet(20, bn_group)
        if bn_group == 0:
            net = native_bn(net)
        hp = argparse.Namespace(wd=1e-4, lr=0.1, momentum=0.9, nesterov=False)
        opt = resnet20_ref.make_optimizer(net, hp)
        return net, opt, F.cross_entropy
    net = AirNet()
    trained = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=1e-3, momentum=0.85, nesterov=True, weight_decay=5e-4)
    return net, opt, lambda out, y: F.cross_entropy(out, y, label_smoothing=0.2, reduction="sum")


def train_mflop(net, image=(3, 32, 32)):
    """Training MFLOP per image by the rule in the docstring, from one forward pass's shapes."""
    macs = []

    def hook(mod, inp, out):
        per_out = mod.weight[0].numel()     # cin * kh * kw (conv), inputs (dense)
        macs.append(out[0].numel() * per_out)

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, *image))
    net.train(was)
    for h in hs:
        h.remove()
    return (3 * 2 * sum(macs) - 2 * macs[0]) / 1e6, 2 * sum(macs) / 1e6


def timed(net_name, batch, steps, warmup, bn_group, seed=1):
    torch.manual_seed(seed)
    net, opt, loss_fn = build(net_name, bn_group)
    mflop, _ = train_mflop(net)
    net = net.to(memory_format=torch.channels_last).train()
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    dt = time.perf_counter() - t0
    ips = batch * steps / dt
    return ips, mflop, loss.item()


# ---------------------------------------------------------------------------------------------------
# self-test

def check():
    torch.manual_seed(0)
    # the airbench network's shapes: PyTorch's MaxPool2d floors (31 -> 15 -> 7 -> 3), as cnn-dist's
    # VALID max-pooling does, then 3 -> 1
    net = AirNet().to(memory_format=torch.channels_last)
    shapes = []
    hs = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
          for m in (net.whiten, *net.groups)]
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    out = net(x)
    for h in hs:
        h.remove()
    assert shapes == [(24, 31, 31), (64, 15, 15), (256, 7, 7), (256, 3, 3)], shapes
    assert out.shape == (4, 10)
    # its parameters: 1,971,352 trained (conv weights, whitening bias, BN biases, head) + 288 whitening
    # weights + 1,152 BN weights frozen
    trained = sum(p.numel() for p in net.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    assert (trained, frozen) == (1971352, 288 + 1152), (trained, frozen)
    # the count: multiply-adds by hand, x 2 x 3, less the whitening layer's data gradient
    macs = [31 * 31 * 24 * 12, 31 * 31 * 64 * 24 * 9, 15 * 15 * 64 * 64 * 9, 15 * 15 * 256 * 64 * 9,
            7 * 7 * 256 * 256 * 9, 7 * 7 * 256 * 256 * 9, 3 * 3 * 256 * 256 * 9, 256 * 10]
    want = (6 * sum(macs) - 2 * macs[0]) / 1e6
    got, fwd = train_mflop(net)
    assert abs(got - want) < 1e-9 and abs(fwd - 2 * sum(macs) / 1e6) < 1e-9, (got, want)
    # ResNet-20 as the reference builds it
    rn = resnet20_ref.ResNet(20, 0)
    assert sum(p.numel() for p in rn.parameters()) == 269722
    rn_mflop, _ = train_mflop(rn)
    assert 240 < rn_mflop < 245, rn_mflop
    # the bench's ResNet-20 (nn.BatchNorm2d) computes what the reference's (GhostBN, G = batch) does
    torch.manual_seed(2)
    ref = resnet20_ref.ResNet(20, 0).train()
    torch.manual_seed(2)
    nat = native_bn(resnet20_ref.ResNet(20, 0)).train()
    assert not any(isinstance(m, resnet20_ref.GhostBN) for m in nat.modules())
    assert sum(p.numel() for p in nat.parameters()) == 269722
    xb = torch.randn(16, 3, 32, 32)
    assert (ref(xb) - nat(xb)).abs().max() <= 1e-4, "native BatchNorm differs from GhostBN at G = batch"
    assert (ref.blocks[4].bn2.running_var - nat.blocks[4].bn2.running_var).abs().max() <= 1e-5
    # one step of each: the loss is finite, the trained tensors move, the frozen ones get no gradient
    for name in ("resnet20", "airbench94"):
        torch.manual_seed(1)
        net, opt, loss_fn = build(name, 0)
        net = net.to(memory_format=torch.channels_last).train()
        before = {k: p.detach().clone() for k, p in net.named_parameters()}
        xb = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        loss = loss_fn(net(xb), torch.randint(0, 10, (8,)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        assert math.isfinite(loss.item()), name
        for k, p in net.named_parameters():
            moved = not torch.equal(p.detach(), before[k])
            if p.requires_grad:
                assert p.grad is not None and moved, f"{name}: {k} was not trained"
            else:
                assert p.grad is None and not moved, f"{name}: frozen {k} changed"
    # a timed run takes the same path
    ips, _, _ = timed("airbench94", 4, 1, 1, 0)
    assert ips > 0
    print(f"check: ok (airbench94 shapes 31x31x24 -> 15x15x64 -> 7x7x256 -> 3x3x256 -> 10, "
          f"{trained} trained parameters, {want:.2f} training MFLOP per image; ResNet-20 269722 "
          f"parameters, {rn_mflop:.2f} MFLOP; one step of each)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads")
    ap.add_argument("--net", choices=("resnet20", "airbench94"),
                    help="one network (default: the rows of make bench)")
    ap.add_argument("--batch", type=int, help="with --net: the batch (128 for resnet20, else 256)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--bn-group", type=int, default=0,
                    help="ResNet-20: 0 = nn.BatchNorm2d over the batch; G > 0 = resnet20_ref's GhostBN, "
                         "groups of G")
    ap.add_argument("--check", action="store_true", help="one small step of each network, checked")
    a = ap.parse_args()
    if a.threads < 1 or a.steps < 1 or a.warmup < 0 or a.bn_group < 0:
        ap.error("--threads and --steps must be >= 1, --warmup and --bn-group >= 0")
    if a.batch is not None and (a.net is None or a.batch < 1):
        ap.error("--batch needs --net and must be >= 1")
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    if a.check:
        check()
        return
    if a.net:
        runs = ((a.net, a.batch or (128 if a.net == "resnet20" else 256)),)
    else:
        runs = DEFAULT_RUNS
    for name, batch in runs:
        ips, mflop, loss = timed(name, batch, a.steps, a.warmup, a.bn_group)
        print(f"pytorch-bench net={name} batch={batch} threads={a.threads} steps={a.steps} "
              f"img_per_s={ips:.1f} mflop_per_img={mflop:.2f} gflops={ips * mflop / 1e3:.1f} "
              f"loss={loss:.3f} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
