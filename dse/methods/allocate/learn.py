"""Learning the widths: :func:`allocate` trains the weights and the U3 quantizers together under
``cross-entropy + penalty * relu(cost - target)`` and exports the last allocation that met
the target (:class:`Allocation`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import DesignPoint, QuantScheme
from hwmodels.formats import BASELINE_KIND

from ...quant import QuantLayer, compute_layer_names, quant_layers, quantize_model
from ...training import (FinetuneBudget, Hooks, calibrate_activations, pretrain, resolve_device, seeded,
                         train_loop)
from ...workloads import WorkloadBundle, get_workload
from .cost import LayerCost, average_bits, check_target, cost_terms, current_bits, layer_split
from .quantizer import StepRangeQuantizer
from .spec import AllocationSpec

@dataclass(frozen=True)
class Allocation:
    """A learned allocation and how it was reached.

    ``point`` is the plan (hardware knobs empty); ``bits`` the widths per layer (one per
    filter, or one for a per-layer allocation); ``cost`` the exported plan's average bits
    under the spec's metric; ``target_met`` whether some step met the target (else the
    last step is exported); ``allocator_accuracy`` the validation accuracy of the jointly
    trained model with its own U3 quantizers after the last step; ``history`` one entry
    per epoch (cross-entropy, cost, validation accuracy).
    """

    spec: AllocationSpec
    point: DesignPoint
    bits: dict[str, tuple[int, ...]]
    cost: float
    target_met: bool
    allocator_accuracy: float
    float_accuracy: float
    steps: int
    time_s: float
    history: tuple[dict[str, float], ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (what the recorded trial stores under ``allocator``)."""
        return {"spec": self.spec.to_dict(), "cost": self.cost, "target_met": self.target_met,
                "allocator_accuracy": self.allocator_accuracy, "float_accuracy": self.float_accuracy,
                "steps": self.steps, "time_s": self.time_s,
                "layer_mean_bits": {n: sum(b) / len(b) for n, b in self.bits.items()},
                "history": list(self.history)}


def allocation_point(bits: dict[str, tuple[int, ...]], pinned: list[str], a_bits: int) -> DesignPoint:
    schemes = {}
    for name, b in bits.items():
        if len(set(b)) == 1:  # uniform (also every per-layer allocation): plain w_bits
            schemes[name] = QuantScheme(BASELINE_KIND, b[0], a_bits)
        else:
            schemes[name] = QuantScheme.with_row_bits(b, a_bits)
    for name in pinned:
        schemes[name] = QuantScheme(BASELINE_KIND, 8, 8)
    return DesignPoint.make(schemes)


class CostPenaltyHooks:
    """How allocation changes the one training loop (:func:`dse.training.train_loop`):

    - loss: ``cross-entropy + penalty * relu(cost - target)``, ``cost`` the average bits of
      the current widths (differentiable through the quantizers' straight-through bits);
    - after each step: the cost of the widths just stepped to; when it meets the target
      they become the allocation to export (the last such step wins);
    - after each epoch: one ``history`` row (mean cross-entropy, cost, validation accuracy).
    """

    def __init__(self, spec: AllocationSpec, quantizers: dict[str, StepRangeQuantizer], terms: list[LayerCost],
                 fixed: float, total: float):
        self.spec, self.quantizers, self.terms, self.fixed, self.total = spec, quantizers, terms, fixed, total
        self.best_bits: Optional[dict[str, tuple[int, ...]]] = None
        self.best_cost = math.nan
        self.history: list[dict[str, float]] = []
        self.cost_now = math.nan
        self._ce = torch.zeros(())
        self._ce_sum = 0.0
        self._batches = 0

    def cost(self) -> torch.Tensor:
        return average_bits(self.quantizers, self.terms, self.fixed, self.total)

    def loss(self, model: nn.Module, x: Any, y: Any, step: int) -> torch.Tensor:
        ce = F.cross_entropy(model(x), y)
        self._ce = ce
        cost = self.cost().to(ce.device)
        return ce + self.spec.penalty * F.relu(cost - self.spec.target).to(ce.dtype)

    def after_step(self, steps: int, loss: torch.Tensor) -> None:
        self._ce_sum += float(self._ce.detach())
        self._batches += 1
        with torch.no_grad():
            self.cost_now = float(self.cost())
            if self.cost_now <= self.spec.target + 1e-9:
                self.best_bits = current_bits(self.quantizers, self.terms)
                self.best_cost = self.cost_now

    def after_epoch(self, epoch: int, accuracy: float) -> None:
        self.history.append({"epoch": epoch, "cross_entropy": self._ce_sum / max(self._batches, 1),
                             "cost": self.cost_now, "val_accuracy": accuracy})
        self._ce_sum, self._batches = 0.0, 0

    def hooks(self, optimizers: list[torch.optim.Optimizer]) -> Hooks:
        return Hooks(loss=self.loss, after_step=self.after_step, after_epoch=self.after_epoch,
                     optimizers=optimizers, diverged_hint="lower --lr / quant_lr")


def allocation_model(bundle: WorkloadBundle, float_state: Any, spec: AllocationSpec
                     ) -> tuple[nn.Module, dict[str, StepRangeQuantizer], list[str], list[str]]:
    """The FP32 model (built once) quantized for allocation: learned layers at ``bits_max``
    with a :class:`StepRangeQuantizer` each (starting at ``init_bits``), pinned layers at
    W8A8. Returns (model, quantizers, learned layers, pinned layers)."""
    model = bundle.build_model()
    model.load_state_dict(float_state)
    learned, pinned = layer_split(compute_layer_names(model), spec)
    init = spec.init_bits if spec.init_bits is not None else spec.bits_max
    plan = {n: QuantScheme(BASELINE_KIND, spec.bits_max, spec.a_bits) for n in learned}
    plan.update({n: QuantScheme(BASELINE_KIND, 8, 8) for n in pinned})
    model = quantize_model(model, plan, inplace=True)
    layers = quant_layers(model)
    quantizers: dict[str, StepRangeQuantizer] = {}
    for n in learned:
        ql: QuantLayer = layers[n]
        quantizers[n] = StepRangeQuantizer(ql.inner.weight, spec.granularity == "filter", spec.bits_min,
                                           spec.bits_max, init)
        ql.weight_quant = quantizers[n]
    return model, quantizers, learned, pinned


def allocation_optimizers(model: nn.Module, quantizers: dict[str, StepRangeQuantizer], spec: AllocationSpec
                          ) -> list[torch.optim.Optimizer]:
    """Adam on the weights; plain SGD on the quantizer parameters: a filter's step follows the
    size of its penalty gradient (its share of the cost), which is what makes the allocation
    cost-aware; Adam would normalise that share away. The rate is per learned width, so a
    filter of average cost moves about ``quant_lr * penalty / ln 2`` per step."""
    qparams = [p for q in quantizers.values() for p in q.parameters()]
    qids = {id(p) for p in qparams}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in qids]
    n_widths = sum(q.log_d.numel() for q in quantizers.values())
    return [torch.optim.Adam(weights, lr=spec.lr), torch.optim.SGD(qparams, lr=spec.quant_lr * n_widths)]


def allocate(workload: Union[str, WorkloadBundle], spec: AllocationSpec, seed: int = 0, *,
             device: str = "cpu", cache_dir: Any = None, pretrain_epochs: Optional[int] = None,
             threads: int = 1, progress: bool = False) -> Allocation:
    """Learn bit widths for ``workload`` from its cached FP32 model (see the package doc),
    through the one training loop with :class:`CostPenaltyHooks`.

    Raises ``ValueError`` for a target outside what the bit limits can reach, and
    ``RuntimeError`` when the loss diverges."""
    bundle = get_workload(workload) if isinstance(workload, str) else workload
    dev = resolve_device(device)
    check_target(bundle, spec)
    pre = pretrain(bundle, seed, pretrain_epochs, cache_dir=cache_dir, device=device, progress=progress,
                   threads=threads)
    batch_size = spec.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        model, quantizers, learned, pinned = allocation_model(bundle, pre.state_dict, spec)
        terms, fixed, total = cost_terms(bundle, learned, pinned, spec.metric, spec.array_rows)
        model = model.to(dev)
        calibrate_activations(model, bundle.train, batch_size, dev)
        hooks = CostPenaltyHooks(spec, quantizers, terms, fixed, total)
        budget = FinetuneBudget(epochs=spec.epochs, lr=spec.lr)  # epochs and the cosine schedule
        run = train_loop(model, bundle.train, bundle.val, budget, batch_size, seed, dev, progress=progress,
                         desc=f"allocate {bundle.name}",
                         hooks=hooks.hooks(allocation_optimizers(model, quantizers, spec)))
    if run.diverged:
        raise RuntimeError(f"allocation diverged: loss {run.diverged_loss} at step {run.steps + 1}; "
                           "lower --lr / quant_lr")
    met = hooks.best_bits is not None
    best_bits, best_cost = hooks.best_bits, hooks.best_cost
    if not met:
        with torch.no_grad():
            best_bits = current_bits(quantizers, terms)
            best_cost = float(hooks.cost())
    point = allocation_point(best_bits, pinned, spec.a_bits)
    return Allocation(spec, point, best_bits, best_cost, met, hooks.history[-1]["val_accuracy"], pre.float_accuracy,
                      run.steps, time.perf_counter() - t0, tuple(hooks.history))
