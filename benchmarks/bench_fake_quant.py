"""Fake-quantization nodes, fused C kernel against the torch path, and where a QAT step's time goes.

1. Per node: forward and backward time (autograd included) of weight and activation quantizers
   with the kernel (``dse/quant/native/fakequant.c``) and with the torch path, same process.
2. ``--breakdown``: one digits-CNN training step (fixed:4) as FP32, with the kernel, with the
   torch path, with the clips frozen, and with the quantizer nodes replaced by a no-op autograd
   node, in interleaved rounds, as ratios to FP32.

Thread CPU clock, torch on one thread.

    python benchmarks/bench_fake_quant.py [--repeats 5] [--calls 300] [--breakdown] [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from dse.quant import QuantScheme, fake, fused, quantize_model
from dse.quant.fake import ActQuantizer, WeightQuantizer

CLOCK = time.thread_time


def _node_times(module, x: torch.Tensor, kernel: bool, calls: int, repeats: int) -> tuple[float, float]:
    saved = fused._lib
    if not kernel:
        fused._lib = None
    try:
        xx = x.clone().requires_grad_(True)
        up = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        best_f = best_b = float("inf")
        for _ in range(repeats):
            tf = tb = 0.0
            for _ in range(calls):
                t0 = CLOCK()
                out = module(xx)
                t1 = CLOCK()
                out.backward(up)
                tb += CLOCK() - t1
                tf += t1 - t0
            best_f, best_b = min(best_f, tf / calls), min(best_b, tb / calls)
        return 1e6 * best_f, 1e6 * best_b
    finally:
        fused._lib = saved


def nodes(args: argparse.Namespace) -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(32, 16, 3, 3, generator=gen)
    rows = [(f"weight {spec}, 32x16x3x3", WeightQuantizer(QuantScheme.parse(spec), w), w)
            for spec in ("fixed:4", "pow2:4", "sp2:4", "term:8,term_budget=12,group_size=4")]
    x = torch.relu(torch.randn(64, 16, 8, 8, generator=gen))
    for spec in ("fixed:4,a_bits=4", "term:8,term_budget=12,group_size=4,a_term_budget=3"):
        aq = ActQuantizer(QuantScheme.parse(spec))
        aq(x)
        rows.append((f"activation {spec}, 64x16x8x8", aq, x))
    print(f"kernel library: {'loaded' if fused.library() is not None else 'NOT available (torch path only)'}, "
          f"sum width {fused.sum_width()}")
    print(f"{'quantizer':<62} {'torch fwd/bwd us':>17} {'kernel fwd/bwd us':>18} {'x faster':>9}")
    for label, module, inp in rows:
        calls = args.calls if inp.numel() < 20_000 else max(args.calls // 3, 1)
        tf, tb = _node_times(module, inp, False, calls, args.repeats)
        kf, kb = _node_times(module, inp, True, calls, args.repeats)
        print(f"{label:<62} {tf:>8.1f} / {tb:>6.1f} {kf:>8.1f} / {kb:>7.1f} {(tf + tb) / (kf + kb):>8.2f}x")


def breakdown(args: argparse.Namespace) -> None:
    from dse.training import batches, pretrained_model, uniform_plan
    from dse.workloads import get_workload

    bundle = get_workload("digits")
    with tempfile.TemporaryDirectory(prefix="dse-bench-") as cache:
        base = pretrained_model(bundle, 0, cache_dir=args.cache_dir or cache, device="cpu", threads=1)
    x, y = next(iter(batches(bundle.train, bundle.batch_size, torch.Generator().manual_seed(0))))

    def model(spec, freeze=False):
        m = quantize_model(base, uniform_plan(base, spec)) if spec else quantize_model(base, {})
        m.eval()
        with torch.no_grad():
            m(x)
        m.train()
        if freeze:
            for name, p in m.named_parameters():
                if name.endswith("alpha"):
                    p.requires_grad_(False)
        return m, torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)

    class NoOp(torch.autograd.Function):  # one autograd node doing nothing: the structure's own cost
        @staticmethod
        def forward(ctx, v, alpha):  # type: ignore[override]
            return v.clone()

        @staticmethod
        def backward(ctx, g):  # type: ignore[override]
            return g, None

    real_lsq, real_lib = fake.lsq_fake_quant, fused.library()
    spec = "fixed:4,a_bits=4"
    variants = {"fp32": (model(None), "kernel"), "fixed:4, kernel": (model(spec), "kernel"),
                "fixed:4, torch path": (model(spec), "torch"),
                "fixed:4, kernel, clips frozen": (model(spec, True), "kernel"),
                "fixed:4, no-op quantizer nodes": (model(spec), "noop")}

    def mode(m: str) -> None:
        fake.lsq_fake_quant = (lambda v, alpha, *a, **k: NoOp.apply(v, alpha)) if m == "noop" else real_lsq
        fused._lib = None if m == "torch" else real_lib

    def step(m, opt) -> None:
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for (m, opt), md in variants.values():
            mode(md)
            for _ in range(3):
                step(m, opt)
        for _ in range(args.rounds):
            for label, ((m, opt), md) in variants.items():
                mode(md)
                t0 = CLOCK()
                for _ in range(args.steps):
                    step(m, opt)
                times[label].append((CLOCK() - t0) / args.steps)
    finally:
        mode("kernel")
    f32, f32_best = statistics.median(times["fp32"]), min(times["fp32"])
    print(f"\ndigits CNN training step, batch {x.shape[0]}, {args.rounds} rounds x {args.steps} steps, thread clock")
    print(f"{'variant':<34} {'ms/step':>8} {'x FP32':>7} {'best ms':>8} {'x FP32':>7}")
    for label, v in times.items():
        t, b = statistics.median(v), min(v)
        print(f"{label:<34} {1e3 * t:>8.2f} {t / f32:>7.2f} {1e3 * b:>8.2f} {b / f32_best:>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--breakdown", action="store_true", help="also time the digits training step variants")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, thread clock")
    nodes(args)
    if args.breakdown:
        breakdown(args)


if __name__ == "__main__":
    main()
