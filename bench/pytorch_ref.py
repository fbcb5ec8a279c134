#!/usr/bin/python3
"""pytorch_ref.py [THREADS] [STEPS]: the reference the speed goals are stated against — the CIFAR-10
tutorial network in PyTorch (Debian's python3-torch 1.13), batch 128, Adam, training steps
(forward, backward, update) on a fixed random batch of 24x24x3 images, THREADS intra-op threads.
Prints images/s. Same layers as configs/cifar10.ini: conv5x5x64, maxpool 3/2 SAME, LRN, conv5x5x64,
LRN, maxpool, dense 384, dense 192, dense 10; weight decay on local3/local4 through the loss."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
torch.manual_seed(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
        self.local3 = nn.Linear(6 * 6 * 64, 384)
        self.local4 = nn.Linear(384, 192)
        self.logits = nn.Linear(192, 10)
        # TensorFlow's LRN (radius 4, alpha 0.001/9 per element) is PyTorch's size 9, alpha 0.001
        self.lrn = nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)  # SAME: 24 -> 12
        x = self.lrn(x)
        x = F.relu(self.conv2(x))
        x = self.lrn(x)
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)  # 12 -> 6
        x = torch.flatten(x, 1)
        x = F.relu(self.local3(x))
        x = F.relu(self.local4(x))
        return self.logits(x)


net = Net()
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x = torch.randn(128, 3, 24, 24)
y = torch.randint(0, 10, (128,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss = loss + 0.004 * 0.5 * (net.local3.weight.pow(2).sum() + net.local4.weight.pow(2).sum())
    loss.backward()
    opt.step()


for _ in range(3):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t0
print(f"pytorch {torch.__version__} threads={threads} batch=128 steps={steps}: {128 * steps / dt:.1f} images/s")
