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


@dataclass(frozen=True)
class StepTiming:
    """One quantization-aware training step timed on this machine, and the data's batch counts."""

    step_s: float
    train_batches: int
    val_batches: int

    def eval_s(self) -> float:
        """One pass over the validation data (a forward pass is about a third of a step)."""
        return self.step_s / 3 * self.val_batches


def finetune_seconds(resolved: Any, repeats: int = 3) -> Optional[float]:
    """Seconds one fine-tune of the study's budget takes on this machine, from timing a few
    real quantization-aware training steps of the workload's model (W8A8 everywhere) on one
    batch; ``None`` for hardware-only studies. Writes nothing."""
    t = step_timing(resolved, repeats)
    return None if t is None else _finetune_s(resolved.cfg, t)


def _finetune_s(cfg: Any, t: StepTiming) -> float:
    if cfg.fidelity == "multires":  # BN re-estimation on a few batches, then one evaluation
        return t.step_s / 3 * (cfg.multires.calibration_batches + t.val_batches)
    ft = cfg.finetune
    steps = ft.steps if ft.steps is not None else ft.epochs * t.train_batches
    evals = max(ft.epochs, 1) if ft.steps is None else max(1, math.ceil(ft.steps / t.train_batches))
    return t.step_s * (steps + 1 / 3) + t.eval_s() * evals


def screen_seconds(resolved: Any, t: StepTiming) -> float:
    """Seconds the ``[screen]`` estimate costs one candidate: ``steps`` = that many training
    steps and one validation pass; ``sensitivity`` = at most one validation pass per compute
    layer (each (layer, scheme) entry is measured once, so later candidates cost less)."""
    sc = resolved.cfg.screen
    if sc.estimate == "steps":
        return t.step_s * sc.steps + t.eval_s()
    return t.eval_s() * len(resolved.workload.layers)


def step_timing(resolved: Any, repeats: int = 3) -> Optional[StepTiming]:
    """A few real training steps of the workload's model (W8A8 everywhere) on one batch, timed;
    ``None`` for hardware-only studies. Writes nothing."""
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
    return StepTiming(sorted(times)[len(times) // 2], num_batches(bundle.train, bs) or 1,
                      num_batches(bundle.val, bs) or 1)


def batch_source(data: Any, batch_size: int):
    from ..training import batches

    return batches(data, batch_size, None)


@dataclass(frozen=True)
class Cost:
    """Expected seconds of a study's budget: hardware pricing with per-trial overhead, and
    fine-tunes of the feasible share (the FP32 pre-training once when not cached). With a
    ``[screen]`` section every feasible candidate is screened (``screen_s`` each) and between
    ``min_finetunes`` (the warm-up) and ``finetunes`` (all of them) are promoted: the
    promotion rate is not known before the search, so the estimate is a range."""

    trials: Optional[int]
    hardware_s: float
    finetune_s: Optional[float]
    finetunes: float
    pretrain_cached: Optional[bool]
    screen_s: Optional[float] = None
    min_finetunes: Optional[float] = None

    @property
    def total_s(self) -> float:
        """The upper end: every feasible candidate screened and fine-tuned."""
        return self.hardware_s + (self.finetune_s or 0.0) * self.finetunes + (self.screen_s or 0.0) * self.finetunes

    @property
    def low_s(self) -> float:
        """The lower end: with a screen, only the warm-up candidates fine-tuned."""
        if self.screen_s is None or self.min_finetunes is None:
            return self.total_s
        return self.hardware_s + self.screen_s * self.finetunes + (self.finetune_s or 0.0) * self.min_finetunes

    def summary(self, timeout_s: Optional[float] = None) -> str:
        if self.trials is None:
            return f"no trial budget: the search stops after its {timeout_s:g} s time budget"
        if self.screen_s is not None and self.min_finetunes is not None:
            text = f"{duration(self.low_s)} to {duration(self.total_s)} for {self.trials} trials (hardware model " \
                   f"and sampler {duration(self.hardware_s)}, about {self.finetunes:.0f} screens x " \
                   f"{self.screen_s:.1f} s, then {self.min_finetunes:.0f} (warm-up only) to " \
                   f"{self.finetunes:.0f} (all promoted) fine-tunes x {self.finetune_s:.1f} s"
            if self.pretrain_cached is False:
                text += ", plus the FP32 pre-training once (not cached yet)"
            return text + ")" + self._over(timeout_s)
        text = f"about {duration(self.total_s)} for {self.trials} trials (hardware model and sampler " \
               f"{duration(self.hardware_s)}"
        if self.finetune_s is not None:
            text += f", about {self.finetunes:.0f} fine-tunes x {self.finetune_s:.1f} s"
            if self.pretrain_cached is False:
                text += ", plus the FP32 pre-training once (not cached yet)"
        return text + ")" + self._over(timeout_s)

    def _over(self, timeout_s: Optional[float]) -> str:
        if timeout_s is not None and self.total_s > timeout_s:
            return f"; the {timeout_s:g} s time budget stops it first"
        return ""


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
    timing = step_timing(resolved)
    ft_s = None if timing is None else _finetune_s(cfg, timing)
    cached = None
    if ft_s is not None and cfg.fidelity == "finetune":
        from ..training import cache_path

        cached = cache_path(resolved.bundle, seed=cfg.seed, epochs=cfg.finetune.pretrain_epochs).is_file()
    feasible = n * pf.share
    if timing is not None and getattr(cfg, "screen", None) is not None:
        return Cost(trials, n * (pf.hw_s + TRIAL_OVERHEAD_S), ft_s, feasible, cached,
                    screen_s=screen_seconds(resolved, timing), min_finetunes=min(float(cfg.screen.warmup), feasible))
    return Cost(trials, n * (pf.hw_s + TRIAL_OVERHEAD_S), ft_s, feasible, cached)
