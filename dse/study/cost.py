"""What a study's budget is expected to cost on this machine: the hardware model and sampler
time per trial, and the fine-tunes of the feasible share timed from a few real training steps."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Optional

#: Optuna ask/tell, storage and sampler time per trial of a hardware-only study, added to
#: the hardware model's time in the cost estimate: 4-10 trials/s over the first few hundred
#: trials of benchmarks/bench_search.py --scale (TPE and NSGA-II, local journal file, 2-core
#: machine). TPE's grows with the study (docs/search.md), so long TPE studies take longer.
TRIAL_OVERHEAD_S = 0.1


def finetune_seconds(resolved: Any, repeats: int = 3) -> Optional[float]:
    """Seconds one fine-tune of the study's budget takes on this machine, from timing a few
    real quantization-aware training steps of the workload's model (W8A8 everywhere) on one
    batch; ``None`` for hardware-only studies. Writes nothing."""
    cfg = resolved.cfg
    bundle = resolved.bundle
    if bundle is None or not cfg.needs_training or cfg.fidelity == "none":
        return None
    import torch

    from hwmodels import QuantScheme
    from hwmodels.formats import BASELINE_KIND

    from ..quant import quantize_model
    from ..training import CPU_THREADS, num_batches, resolve_device, seeded, uniform_plan

    dev = resolve_device(cfg.finetune.device)
    bs = cfg.finetune.batch_size or bundle.batch_size
    with seeded(cfg.seed, dev, CPU_THREADS):
        model = bundle.build_model()
        names = [l.name for l in resolved.workload.layers]
        model = quantize_model(model, uniform_plan(names, QuantScheme(BASELINE_KIND, 8, 8)), inplace=True).to(dev)
        x, y = next(iter(batch_source(bundle.train, bs)))
        x, y = x.to(dev), y.to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
    step_s = sorted(times)[len(times) // 2]
    train_batches = num_batches(bundle.train, bs) or 1
    val_batches = num_batches(bundle.val, bs) or 1
    if cfg.fidelity == "multires":  # BN re-estimation on a few batches, then one evaluation
        return step_s / 3 * (cfg.multires.calibration_batches + val_batches)
    ft = cfg.finetune
    steps = ft.steps if ft.steps is not None else ft.epochs * train_batches
    evals = max(ft.epochs, 1) if ft.steps is None else max(1, math.ceil(ft.steps / train_batches))
    return step_s * (steps + 1 / 3 * val_batches * evals + 1 / 3)


def batch_source(data: Any, batch_size: int):
    from ..training import batches

    return batches(data, batch_size, None)


@dataclass(frozen=True)
class Cost:
    """Expected seconds of a study's budget: hardware pricing with per-trial overhead, and
    fine-tunes of the feasible share (the FP32 pre-training once when not cached)."""

    trials: Optional[int]
    hardware_s: float
    finetune_s: Optional[float]
    finetunes: float
    pretrain_cached: Optional[bool]

    @property
    def total_s(self) -> float:
        return self.hardware_s + (self.finetune_s or 0.0) * self.finetunes

    def summary(self, timeout_s: Optional[float] = None) -> str:
        if self.trials is None:
            return f"no trial budget: the search stops after its {timeout_s:g} s time budget"
        text = f"about {duration(self.total_s)} for {self.trials} trials (hardware model and sampler " \
               f"{duration(self.hardware_s)}"
        if self.finetune_s is not None:
            text += f", about {self.finetunes:.0f} fine-tunes x {self.finetune_s:.1f} s"
            if self.pretrain_cached is False:
                text += ", plus the FP32 pre-training once (not cached yet)"
        text += ")"
        if timeout_s is not None and self.total_s > timeout_s:
            text += f"; the {timeout_s:g} s time budget stops it first"
        return text


def duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s" if s >= 1 else f"{s:.2f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def cost(resolved: Any, pf: Any) -> Cost:
    """The expected :class:`Cost` of ``resolved``'s budget given its pre-flight estimate ``pf``
    (a :class:`~dse.study.preflight.Preflight`: its hardware time per design and feasible share)."""
    cfg = resolved.cfg
    trials = cfg.trials
    n = trials if trials is not None else 0
    ft_s = finetune_seconds(resolved)
    cached = None
    if ft_s is not None and cfg.fidelity == "finetune":
        from ..training import cache_path

        cached = cache_path(resolved.bundle, seed=cfg.seed, epochs=cfg.finetune.pretrain_epochs).is_file()
    return Cost(trials, n * (pf.hw_s + TRIAL_OVERHEAD_S), ft_s, n * pf.share, cached)
