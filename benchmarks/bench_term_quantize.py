"""Throughput of term quantization against a plain uniform fake-quant, same tensors, same run.

The tensors have ResNet-18's weight shapes (about 11.7 M values). Each measurement takes
the best of a few repeats; the ratio is what to read (machines here are shared).

    python benchmarks/bench_term_quantize.py [--repeats 3] [--group 16] [--budgets 4,8,16,32]
"""

from __future__ import annotations

import argparse
import time

import torch

from dse.quant import QuantScheme, quantize_normalized

# (out, in, kh, kw) of ResNet-18's conv and fc weights (ImageNet, 1000 classes)
RESNET18 = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4 + [(128, 64, 3, 3), (128, 128, 3, 3), (128, 64, 1, 1),
            (128, 128, 3, 3), (128, 128, 3, 3), (256, 128, 3, 3), (256, 256, 3, 3), (256, 128, 1, 1),
            (256, 256, 3, 3), (256, 256, 3, 3), (512, 256, 3, 3), (512, 512, 3, 3), (512, 256, 1, 1),
            (512, 512, 3, 3), (512, 512, 3, 3), (1000, 512, 1, 1)]


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--budgets", default="4,8,16,32")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(s, generator=g) for s in RESNET18]
    normed = [t / t.abs().amax() for t in tensors]
    n_values = sum(t.numel() for t in tensors)
    print(f"ResNet-18 weight set: {n_values / 1e6:.2f} M values in {len(tensors)} tensors, "
          f"torch threads {torch.get_num_threads()}")

    def run(scheme):
        return lambda: [quantize_normalized(c, scheme) for c in normed]

    base = best_of(run(QuantScheme("fixed", 8)), args.repeats)
    print(f"{'scheme':<34} {'time_s':>8} {'Mvalues/s':>10} {'x uniform':>10}")
    print(f"{'fixed:8 (uniform fake-quant)':<34} {base:8.3f} {n_values / base / 1e6:10.1f} {1.0:10.2f}")
    for enc in ("binary", "csd"):
        for k in [int(b) for b in args.budgets.split(",")]:
            s = QuantScheme("term", 8, term_budget=k, group_size=args.group, term_encoding=enc)
            t = best_of(run(s), args.repeats)
            print(f"{f'term:8 {enc} k={k} g={args.group}':<34} {t:8.3f} {n_values / t / 1e6:10.1f} {t / base:10.2f}")


if __name__ == "__main__":
    main()
