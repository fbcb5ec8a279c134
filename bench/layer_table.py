#!/usr/bin/python3
"""Per-layer table of a network's convolutions for bench/RESULTS.md: joins `cnn-dist --summary` (shapes,
kernels, MFLOP per image) with the per-layer times of `mpirun -np RANKS cnn-dist --bench STEPS` and prints
one markdown row per conv layer: shape, kernels, forward and backward ms per step on one rank, GFLOP/s
counted as a direct convolution (backward: data and weight gradient, twice the forward's FLOPs, once for
a layer without a data gradient), and that speed as a share of one core's FMA peak (--peak, GFLOP/s per
core: what the machine was measured to reach, 116 on a Zen 4 core), and beside the measured times the
plan's time model's forward + backward ms for the same images (`--summary`'s ms/step, scaled to one rank's
share; plan.h). Winograd F(4x4, 3x3) does 4x fewer
multiplications, so its limit is 400% of peak counted as direct.

usage: bench/layer_table.py [--ranks 2] [--steps 20] [--peak 116] [--set key=value ...] CONFIG
"""
import argparse
import os
import re
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("config")
ap.add_argument("--ranks", type=int, default=2)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--peak", type=float, default=116.0, help="FMA peak of one core, GFLOP/s")
ap.add_argument("--bin", default="build/cnn-dist")
ap.add_argument("--set", action="append", default=[], help="passed to cnn-dist as --set")
a = ap.parse_args()
sets = sum((["--set", s] for s in a.set), [])
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

summary = subprocess.run([a.bin, "--summary"] + sets + [a.config], capture_output=True, text=True, env=env,
                         check=True).stdout
layers = {}  # name -> (type, output, mflop, kernel)
model_ms = {}  # name -> the time model's fwd + bwd ms for a step of the global batch on one core
prev_out = "32x32x3"
shapes_in = {}
for line in summary.splitlines():
    m = re.match(r"^(\S+)\s+(conv|batchnorm|act|add|maxpool|avgpool|dense|global_avgpool|global_maxpool|scale|"
                 r"pad_channels|lrn|dropout)\s+(\S+)\s+(\d+)\s+([0-9.]+)(?:\s+([0-9.]+))?\s*(.*)$", line)
    if m:
        layers[m.group(1)] = (m.group(2), m.group(3), float(m.group(5)), m.group(7).strip())
        if m.group(6):
            model_ms[m.group(1)] = float(m.group(6))
    m = re.match(r"^input\s+(\S+)", line)
    if m:
        prev_out = m.group(1)

bench = subprocess.run(["mpirun", "-np", str(a.ranks), "--bind-to", "core", a.bin, "--bench", str(a.steps),
                        "--set", "run.threads=1"] + sets + [a.config], capture_output=True, text=True, env=env)
if bench.returncode != 0:
    sys.exit(bench.stdout + bench.stderr)
times = {}
batch = None
for line in bench.stdout.splitlines():
    m = re.match(r"^(\S+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)%$", line)
    if m and m.group(1) in layers:
        times[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    m = re.search(r"bench-summary .*batch=(\d+) img_per_s=([0-9.]+)", line)
    if m:
        batch, ips = int(m.group(1)), float(m.group(2))
per_rank = batch / a.ranks

print(f"{os.path.basename(a.config)}, batch {batch} on {a.ranks} ranks x 1 thread ({per_rank:.0f} images per rank "
      f"and step), {ips:.0f} img/s; peak {a.peak:.0f} GFLOP/s per core")
print()
print("| layer | output | kernels | fwd ms | bwd ms | model ms | fwd GFLOP/s | bwd GFLOP/s | fwd % peak | bwd % peak |")
print("|---|---|---|---|---|---|---|---|---|---|")
tot = [0.0, 0.0, 0.0, 0.0, 0.0]
first = True
for name, (typ, out, mflop, kern) in layers.items():
    if typ != "conv" or name not in times:
        continue
    f, b = times[name]
    bwd_flop = mflop * (1 if first else 2)  # the first layer has no data gradient
    first = False
    gf = mflop * per_rank / f if f > 0 else 0
    gb = bwd_flop * per_rank / b if b > 0 else 0
    tot[0] += f
    tot[1] += b
    tot[2] += mflop * per_rank
    tot[3] += bwd_flop * per_rank
    pred = model_ms.get(name, 0.0) * per_rank / batch  # the summary's batch is the global one
    tot[4] += pred
    print(f"| {name} | {out} | {kern} | {f:.2f} | {b:.2f} | {pred:.2f} | {gf:.0f} | {gb:.0f} | "
          f"{100 * gf / a.peak:.0f}% | {100 * gb / a.peak:.0f}% |")
all_ms = sum(f + b for f, b in times.values())
print(f"| all convolutions | | | {tot[0]:.2f} | {tot[1]:.2f} | {tot[4]:.2f} | {tot[2] / tot[0]:.0f} | "
      f"{tot[3] / tot[1]:.0f} | {100 * tot[2] / tot[0] / a.peak:.0f}% | "
      f"{100 * tot[3] / tot[1] / a.peak:.0f}% |")
other = all_ms - tot[0] - tot[1]
print()
print(f"Convolutions {tot[0] + tot[1]:.1f} ms of the {all_ms:.1f} ms the layers take per step on one rank; "
      f"the other layers (BatchNorm, activations, add, pooling, dense) {other:.1f} ms "
      f"({100 * other / all_ms:.0f}%).")
