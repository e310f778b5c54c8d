"""Throughput of term quantization against a plain uniform fake-quant, same tensors, same run.

The tensors have ResNet-18's weight shapes (about 11.7 M values), normalised to [-1, 1].
Each figure is the best of a few repeats (machines here are shared), printed as absolute
time and M values/s and as a ratio to the uniform fake-quant of the same tensors measured
in the same process, one baseline run before every repeat of every row (its best over the
whole run is the baseline): the ratio is what to compare across machines.

Rows: weight term quantization (8 bits, binary and CSD, group ``--group``, each budget),
per-row budgets (one budget per output channel, drawn from the budgets listed), other group
sizes, and the per-value budget used for activations (group 1).

Each row runs through the fused C kernel (``dse/quant/native/terms.c``, the default path on
CPU) and, with ``--paths native,torch`` (the default), once more with the kernel switched off
(the pure-torch path, ``[torch]`` rows), both against the same baseline.

    python benchmarks/bench_term_quantize.py [--repeats 5] [--group 16] [--budgets 4,8,16,32]
        [--other-groups 4,64] [--threads 1] [--clock thread|wall] [--paths native,torch]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from dse.quant import QuantScheme, quantize_normalized, term_quantize
from dse.quant import terms as _terms

# (out, in, kh, kw) of ResNet-18's conv and fc weights (ImageNet, 1000 classes)
RESNET18 = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4 + [(128, 64, 3, 3), (128, 128, 3, 3), (128, 64, 1, 1),
            (128, 128, 3, 3), (128, 128, 3, 3), (256, 128, 3, 3), (256, 256, 3, 3), (256, 128, 1, 1),
            (256, 256, 3, 3), (256, 256, 3, 3), (512, 256, 3, 3), (512, 512, 3, 3), (512, 256, 1, 1),
            (512, 512, 3, 3), (512, 512, 3, 3), (1000, 512, 1, 1)]


CLOCK = time.thread_time
BASE_FN = None  # the uniform baseline, timed once before every repeat of every row
BASE_TIMES: list[float] = []


def best_of(fn, repeats: int) -> float:
    """Best of ``repeats`` timings of ``fn``, each right after one of the baseline (so a
    busy spell of a shared machine hits both, and the baseline's best is the best of all)."""
    best = float("inf")
    for _ in range(repeats):
        if BASE_FN is not None:
            t0 = CLOCK()
            BASE_FN()
            BASE_TIMES.append(CLOCK() - t0)
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--budgets", default="4,8,16,32")
    ap.add_argument("--other-groups", default="4,64", help="more group sizes, at budget = group size")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("thread", "wall"), default="thread",
                    help="thread: this thread's CPU time (robust on shared machines; needs --threads 1); wall")
    ap.add_argument("--paths", default="native,torch",
                    help="term quantization paths to time: native (the C kernel, when it loads), torch")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.thread_time if args.clock == "thread" and args.threads == 1 else time.perf_counter
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(s, generator=g) for s in RESNET18]
    normed = [t / t.abs().amax() for t in tensors]
    n_values = sum(t.numel() for t in tensors)
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"ResNet-18 weight set: {n_values / 1e6:.2f} M values in {len(tensors)} tensors, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), best of {args.repeats}, "
          f"{'thread CPU' if CLOCK is time.thread_time else 'wall'} clock")

    def run(scheme):
        return lambda: [quantize_normalized(c, scheme) for c in normed]

    global BASE_FN
    BASE_FN = run(QuantScheme("fixed", 8))
    BASE_FN()  # warm-up
    rows: list[tuple[str, float]] = []
    lib = getattr(_terms, "_native", lambda: None)()  # (None: a version without the kernel)
    paths = [p for p in args.paths.split(",") if p in ("native", "torch")]
    print(f"term quantization kernel: {'native/terms.c' if lib is not None else 'not available (torch path)'}")

    def row(label: str, fn) -> None:
        for path in paths:
            if path == "native" and lib is None:
                continue
            _terms._lib = lib if path == "native" else None
            try:
                t = fn()
            finally:
                _terms._lib = lib
            rows.append((label + (" [torch]" if path == "torch" and lib is not None else ""), t))

    for enc in ("binary", "csd"):
        for k in budgets:
            s = QuantScheme("term", 8, term_budget=k, group_size=args.group, term_encoding=enc)
            row(f"term:8 {enc} k={k} g={args.group}", lambda s=s: best_of(run(s), args.repeats))
    for gs in [int(x) for x in args.other_groups.split(",") if x]:
        s = QuantScheme("term", 8, term_budget=gs, group_size=gs)
        row(f"term:8 binary k={gs} g={gs}", lambda s=s: best_of(run(s), args.repeats))
    # per-row budgets: one per output channel, through the public function on integers
    ints = [torch.round(c.reshape(c.shape[0], -1) * 127) for c in normed]
    row_budgets = [torch.tensor(budgets)[torch.randint(len(budgets), (c.shape[0],), generator=g)] for c in ints]
    for enc in ("binary", "csd"):
        def per_row(enc=enc) -> float:
            try:
                return best_of(lambda: [term_quantize(q, b, args.group, enc) for q, b in zip(ints, row_budgets)],
                               args.repeats)
            except (TypeError, ValueError, RuntimeError):  # a version without per-row budgets
                return float("nan")
        row(f"term_quantize {enc} per-row k g={args.group}", per_row)
    # activations: a per-value budget (group 1), as ActQuantizer uses
    for k in (2, 3):
        s = QuantScheme("term", 8, term_budget=k, group_size=1)
        row(f"term:8 binary k={k} g=1 (per value)", lambda s=s: best_of(run(s), args.repeats))
    base = min(BASE_TIMES)
    print(f"{'what':<48} {'time_s':>8} {'Mvalues/s':>10} {'x uniform':>10}")
    for label, t in [("fixed:8 (uniform fake-quant, baseline)", base)] + rows:
        if math.isnan(t):  # not supported by this version
            print(f"{label:<48} not supported")
        else:
            print(f"{label:<48} {t:8.4f} {n_values / t / 1e6:10.1f} {t / base:10.2f}")


if __name__ == "__main__":
    main()
