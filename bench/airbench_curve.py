#!/usr/bin/python3
"""airbench_curve.py [--out FILE.png] [--cnn RUN_DIR ...] [--torch RESULT.json ...]

Test accuracy against wall time for airbench94 runs of both programs, as a table (stdout) and a plot:
cnn-dist runs are out_dirs of configs/airbench94.ini (their metrics.h5: /eval rows, the wall time of the
/train row of the same step, and the final /eval_tta row); PyTorch runs are the --json files of
bench/airbench94_ref.py (per-epoch rows with seconds so far, and the final accuracies). The summary line
of each program gives the mean and standard deviation over its runs of the accuracy with and without
TTA and of the wall time.

Uses Debian's python3-h5py and python3-matplotlib (hence /usr/bin/python3)."""
import argparse
import json
import os
import statistics

import h5py


def cnn_run(path):
    f = path if path.endswith(".h5") else os.path.join(path, "metrics.h5")
    with h5py.File(f, "r") as h:
        wall = dict(zip(h["train/step"][:].tolist(), h["train/wall_s"][:].tolist()))
        ev = list(zip(h["eval/step"][:].tolist(), h["eval/accuracy"][:].tolist()))
        tta = h["eval_tta/accuracy"][-1] if "eval_tta" in h else None
        cfg = h.attrs["config"]
    seed = next((l.split("=")[1].strip() for l in cfg.splitlines() if l.startswith("seed")), "?")
    rows = [(wall.get(s), a) for s, a in ev]
    return dict(name=f"cnn-dist seed {seed}", rows=rows, acc=ev[-1][1], tta=tta,
                wall=rows[-1][0])


def torch_run(path):
    with open(path) as f:
        r = json.load(f)
    rows = [(e["seconds_so_far"], e["val_acc"]) for e in r["per_epoch"]]
    return dict(name=f"PyTorch seed {r['seed']}", rows=rows, acc=r["accuracy"], tta=r["accuracy_tta"],
                wall=r["wall_s"])


def summary(label, runs):
    if not runs:
        return
    def ms(v):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        return f"{statistics.mean(v):.4f}" + (f" +- {statistics.stdev(v):.4f}" if len(v) > 1 else "")
    print(f"{label}: {len(runs)} run(s); accuracy {ms([r['acc'] for r in runs])}, with TTA {ms([r['tta'] for r in runs])}; "
          f"wall {ms([r['wall'] for r in runs])} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", nargs="*", default=[], help="cnn-dist out_dirs (or metrics.h5 files)")
    ap.add_argument("--torch", nargs="*", default=[], help="bench/airbench94_ref.py --json files")
    ap.add_argument("--out", help="the plot (PNG); none if not given")
    a = ap.parse_args()
    cnn = [cnn_run(p) for p in a.cnn]
    tor = [torch_run(p) for p in a.torch]
    for r in cnn + tor:
        print(f"{r['name']}: " + ", ".join(f"{a:.4f} at {w:.0f} s" if w is not None else f"{a:.4f}"
                                          for w, a in r["rows"]))
    summary("cnn-dist", cnn)
    summary("PyTorch", tor)
    if a.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r, style in [(r, "-") for r in cnn] + [(r, "--") for r in tor]:
            pts = [(w, a) for w, a in r["rows"] if w is not None]
            ax.plot([p[0] / 60 for p in pts], [100 * p[1] for p in pts], style, marker="o", ms=3, label=r["name"])
        ax.set_xlabel("wall time (minutes, from the start)")
        ax.set_ylabel("test accuracy (%), without TTA")
        ax.set_ylim(50, 100)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.out, dpi=120)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
