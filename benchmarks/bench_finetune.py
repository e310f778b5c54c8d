"""Accuracy and cost of short quantization-aware fine-tunes on the built-in workloads.

1. Accuracy: FP32 and uniform fixed-point W=A=8/4/2 bits (every compute layer) after a
   short fine-tune from the cached FP32 weights, with the wall time of each fine-tune.
2. Step-time overhead of fake quantization: one training step (forward, backward,
   optimizer) of each scheme kind (fixed, pow2, sp2, term, msq) against the FP32 step on
   the same model, batch and run, as ratios. Kinds are timed in interleaved rounds, on
   this thread's CPU clock by default (``--clock thread``: other processes on a shared
   machine do not count; with ``--threads 1`` it is the whole step's work), and each
   shows its median and best round.

    python benchmarks/bench_finetune.py [--workloads digits,mnist1d] [--epochs 2]
        [--seed 0] [--cache-dir DIR] [--steps 20] [--rounds 5] [--threads 1] [--torch-device cpu]
        [--clock thread|wall] [--kinds fixed:4,term:8 b12/g4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from dse.quant import quantize_model
from dse.training import (FinetuneBudget, batches, finetune, pretrain, pretrained_model, resolve_device, seeded,
                          uniform_plan)
from dse.workloads import get_workload

ACCURACY_PLANS = (("FP32", None), ("fixed W8A8", "fixed:8,a_bits=8"), ("fixed W4A4", "fixed:4,a_bits=4"),
                  ("fixed W2A2", "fixed:2,a_bits=2"))
STEP_KINDS = (
    ("fp32", None),
    ("fixed:4", "fixed:4,a_bits=4"),
    ("pow2:4", "pow2:4,a_bits=4"),
    ("sp2:4", "sp2:4,a_bits=4"),
    ("term:8 b12/g4", "term:8,term_budget=12,group_size=4"),
    ("term:8 b12/g4 +act3", "term:8,term_budget=12,group_size=4,a_term_budget=3"),
    ("msq:4 f0.5", "msq:4,a_bits=4,sp2_fraction=0.5"),
)


def accuracy_table(name: str, args: argparse.Namespace) -> None:
    bundle = get_workload(name)
    t0 = time.perf_counter()
    pre = pretrain(bundle, args.seed, cache_dir=args.cache_dir, device=args.device, threads=args.threads)
    how = "from cache" if pre.from_cache else f"trained in {pre.time_s:.1f} s"
    print(f"\n{name}: FP32 pre-training {pre.epochs} epochs, val accuracy {100 * pre.float_accuracy:.2f}% "
          f"({how}; {time.perf_counter() - t0:.1f} s here)")
    budget = FinetuneBudget(epochs=args.epochs, lr=args.lr)
    print(f"fine-tune: {args.epochs} epochs, adam lr {args.lr:g}, cosine, batch {bundle.batch_size}, "
          f"seed {args.seed}, {args.threads} thread(s), {args.device}")
    print(f"{'plan':<12} {'accuracy':>9} {'vs FP32':>8} {'epoch 1':>8} {'time_s':>7}")
    for label, spec in ACCURACY_PLANS:
        plan = uniform_plan(bundle, spec) if spec else {}
        r = finetune(bundle, plan, budget, seed=args.seed, cache_dir=args.cache_dir, device=args.device,
                     threads=args.threads)
        print(f"{label:<12} {100 * r.accuracy:>8.2f}% {100 * (r.accuracy - r.float_accuracy):>+7.2f}  "
              f"{100 * r.history[0]:>6.2f}% {r.time_s:>7.2f}")


def step_overhead(name: str, args: argparse.Namespace) -> None:
    bundle = get_workload(name)
    dev = resolve_device(args.device)
    base = pretrained_model(bundle, args.seed, cache_dir=args.cache_dir, device="cpu", threads=args.threads)
    x, y = next(iter(_first_batch(bundle)))
    x, y = x.to(dev), y.to(dev)
    models = {}
    wanted = {k.strip() for k in args.kinds.split(",")} if args.kinds else None
    for label, spec in STEP_KINDS:
        if wanted is not None and label != "fp32" and label not in wanted:
            continue
        m = quantize_model(base, uniform_plan(base, spec)) if spec else quantize_model(base, {})
        m = m.to(dev)
        m.eval()
        with torch.no_grad():
            m(x)  # calibrate activation quantizers
        m.train()
        models[label] = (m, torch.optim.Adam(m.parameters(), lr=1e-4))

    def step(model, opt) -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    clock = time.thread_time if args.clock == "thread" and dev.type == "cpu" else time.perf_counter
    times: dict[str, list[float]] = {label: [] for label in models}
    with seeded(args.seed, dev, args.threads):
        for label, (m, opt) in models.items():  # warm-up
            for _ in range(3):
                step(m, opt)
        for _ in range(args.rounds):
            for label, (m, opt) in models.items():
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = clock()
                for _ in range(args.steps):
                    step(m, opt)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times[label].append((clock() - t0) / args.steps)
    fp32 = statistics.median(times["fp32"])
    fp32_best = min(times["fp32"])
    print(f"\n{name}: training step, batch {x.shape[0]}, {args.rounds} rounds x {args.steps} steps, "
          f"{args.threads} thread(s), {dev}, {args.clock} clock")
    print(f"{'kind':<20} {'ms/step':>8} {'x FP32':>7} {'best ms':>8} {'x FP32':>7}")
    for label in models:
        t, b = statistics.median(times[label]), min(times[label])
        print(f"{label:<20} {1e3 * t:>8.2f} {t / fp32:>7.2f} {1e3 * b:>8.2f} {b / fp32_best:>7.2f}")


def _first_batch(bundle):
    """The fine-tune's own batching (dse.training.batches), seeded."""
    return batches(bundle.train, bundle.batch_size, torch.Generator().manual_seed(0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="digits,mnist1d")
    ap.add_argument("--epochs", type=int, default=2, help="fine-tune epochs (default 2)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", help="pre-training cache (default: a fresh temporary folder)")
    ap.add_argument("--steps", type=int, default=20, help="steps per timing round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torch-device", dest="device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--clock", choices=("thread", "wall"), default="thread",
                    help="thread: this thread's CPU time (robust on shared machines); wall: elapsed time")
    ap.add_argument("--kinds", default="", help="comma-separated step kinds to time (default: all)")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-steps", action="store_true")
    args = ap.parse_args()
    tmp = None
    if args.cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dse-bench-")
        args.cache_dir = tmp.name
    print(f"torch {torch.__version__}, device {args.device}, threads {args.threads}, cache {args.cache_dir}")
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    if not args.skip_accuracy:
        for name in names:
            accuracy_table(name, args)
    if not args.skip_steps:
        for name in names:
            step_overhead(name, args)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
