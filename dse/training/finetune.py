"""FP32 pre-training (cached on disk) and short quantization-aware fine-tunes.

One trial of a search calls :func:`finetune`: it builds the workload's model once, gives it
the cached FP32 weights (kept in memory by :func:`~dse.training.pretrain.pretrain` after a
process's first trial: no file is re-read), applies the quantization plan with
:func:`dse.quant.quantize_model`, trains for a small budget through the one loop
(:func:`~dse.training.loop.train_loop`) and returns validation accuracy and timing.

Choices, and why:

- **BatchNorm is kept, not folded.** Weights are fake-quantized before BN and BN keeps
  updating its statistics during the fine-tune (it re-centres what quantization shifted,
  which is most of what a short fine-tune recovers). For ``per_row`` schemes folding BN
  into the per-row scale at deployment is exact; for ``per_tensor`` schemes the folded
  weights would need requantizing, so their accuracy here is slightly optimistic.
- **Activation quantizers are calibrated** on the first (unshuffled) training batch in
  eval mode before any step, so ``epochs=0`` is post-training quantization.
- **Determinism**: everything random draws from the run's seed (model init, the shuffling
  generator, dropout); the global torch/numpy/random states are restored afterwards and
  deterministic algorithms are asked for on CPU, with a fixed thread count
  (:data:`CPU_THREADS`). Two runs with the same seed and budget give identical results
  on CPU; GPUs are not bitwise reproducible. The global RNG, the deterministic flag and
  the thread count are process-wide, so run concurrent fine-tunes in separate
  processes, not threads.
- **Loss**: cross-entropy on the model's logits (every built-in is a classifier).
"""


import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional, Union

import torch
from torch import nn

from hwmodels.base import DesignPoint
from hwmodels.formats import QuantScheme

from ..quant import PlanError, compute_layer_names, normalize_plan, quantize_model
from ..workloads import WorkloadBundle
from .data import (
    CPU_THREADS,
    calibrate_activations,
    resolve_device,
    seeded,
)
from .loop import AbortHook, FinetuneBudget, train_loop
from .pretrain import architecture_digest, as_bundle, pretrain, require_data

PlanLike = Union[DesignPoint, Mapping[str, Any]]


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of one fine-tune.

    Attributes:
        accuracy: validation accuracy (fraction in [0, 1]) when the run stopped; NaN for a
            diverged run.
        float_accuracy: validation accuracy of the FP32 starting point.
        epochs_run: epochs started (a step budget may end inside one).
        steps: optimizer steps taken.
        time_s: wall time of the fine-tune (quantize, calibrate, train, evaluate), without
            pre-training.
        aborted: stopped by the abort hook or by divergence; ``reason`` says which.
        reason: the abort hook's string, or the divergence message; empty otherwise.
        history: validation accuracy after each epoch (the first entry, for ``epochs=0``,
            is the calibrated model before training).
        diverged: the loss became NaN or infinite.
        device: where it ran.
    """

    accuracy: float
    float_accuracy: float
    epochs_run: int
    steps: int
    time_s: float
    aborted: bool = False
    reason: str = ""
    history: tuple[float, ...] = ()
    diverged: bool = False
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes ``None``)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return v

        return {k: clean(v) for k, v in asdict(self).items()}


def plan_schemes(plan: Optional[PlanLike]) -> dict[str, QuantScheme]:
    """{layer: QuantScheme} from a DesignPoint, a plan-format dict (``{"layers": ...,
    "hardware": ...}``) or a mapping of layer name -> scheme; raises ``PlanError``."""
    if plan is None:
        return {}
    if isinstance(plan, Mapping) and "layers" in plan and isinstance(plan.get("layers"), Mapping):
        try:
            return DesignPoint.from_dict(plan).scheme_map
        except ValueError as e:
            raise PlanError(str(e)) from None
    return normalize_plan(plan)


def uniform_plan(layer_names: Any, scheme: Union[QuantScheme, str]) -> DesignPoint:
    """Every layer in ``layer_names`` (or every compute layer of a bundle / model) with
    one scheme (a QuantScheme or its short form, e.g. ``"fixed:4"``)."""
    if isinstance(scheme, str):
        scheme = QuantScheme.parse(scheme)
    if isinstance(layer_names, WorkloadBundle):
        layer_names = layer_names.spec.layer_names
    elif isinstance(layer_names, nn.Module):
        layer_names = compute_layer_names(layer_names)
    return DesignPoint.make({n: scheme for n in layer_names})


def check_plan(workload: Union[str, WorkloadBundle], plan: Optional[PlanLike]) -> dict[str, QuantScheme]:
    """{layer: QuantScheme} of ``plan`` after checking that every layer is a compute layer
    of the workload's model; raises ``PlanError`` naming the first that is not."""
    bundle = as_bundle(workload)
    schemes = plan_schemes(plan)
    with torch.random.fork_rng(devices=[]):
        model = bundle.build_model()
    return check_layers(bundle.name, model, schemes)


def check_layers(workload_name: str, model: nn.Module, schemes: dict[str, QuantScheme]) -> dict[str, QuantScheme]:
    """``schemes`` after checking that every layer it names is a compute layer of ``model``;
    raises ``PlanError`` naming the first that is not."""
    known = compute_layer_names(model)
    unknown = [n for n in schemes if n not in known]
    if unknown:
        hint = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        raise PlanError(f"layer {unknown[0]!r}: not a compute layer of workload {workload_name!r}; "
                        f"its layers: {hint}")
    return schemes


def finetune(workload: Union[str, WorkloadBundle], plan: Optional[PlanLike],
             budget: Optional[FinetuneBudget] = None, seed: int = 0, abort: Optional[AbortHook] = None,
             device: str = "cpu", progress: bool = False, *,
             cache_dir: Optional[Union[str, os.PathLike]] = None, pretrain_epochs: Optional[int] = None,
             pretrain_seed: Optional[int] = None, threads: int = CPU_THREADS,
             on_model: Optional[Callable[[nn.Module], None]] = None) -> FinetuneResult:
    """Quantization-aware fine-tune of one plan, from the cached FP32 weights.

    Args:
        workload: a :class:`WorkloadBundle` or a workload name.
        plan: DesignPoint, plan-format dict or {layer: scheme}; layers not named stay
            FP32; ``None`` or ``{}`` fine-tunes the FP32 model (a baseline).
        budget: epochs or steps, lr, optimizer, ... (default :class:`FinetuneBudget()`).
        seed: seeds the fine-tune (and, unless ``pretrain_seed`` is given, pre-training).
        abort: ``abort(epoch, val_accuracy) -> str | None`` called after each epoch
            (``epoch`` counts from 1; 0 for an ``epochs=0`` run); a string stops the run
            and becomes ``reason``.
        device: ``cpu``, ``cuda`` or ``auto``.
        progress: a progress bar on stderr when it is a terminal.
        cache_dir: pre-training cache (see :func:`cache_root`).
        pretrain_epochs: FP32 epochs (default: the workload's).
        pretrain_seed: seed of the FP32 model (default: ``seed``).
        threads: CPU intra-op threads while training (see :data:`CPU_THREADS`).
        on_model: called with the fine-tuned, fake-quantized model (e.g. to export it as
            QONNX, ``dse finetune --qonnx``); not called for a diverged run.

    Raises:
        PlanError: a plan layer the model does not have (checked before any training).
        UserError: a shape-only workload, or a device that is not there.
    """
    bundle = as_bundle(workload)
    budget = budget or FinetuneBudget()
    require_data(bundle)
    dev = resolve_device(device)
    schemes = plan_schemes(plan)
    batch_size = budget.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        # the trial's one model: built first (its initialisation draws come first from the seed,
        # as they always have), checked against the plan before anything is trained, then given
        # the FP32 weights (held in memory after the first trial of a process)
        model = bundle.build_model()
        check_layers(bundle.name, model, schemes)
        t_pre = time.perf_counter()
        pre = pretrain(bundle, seed if pretrain_seed is None else pretrain_seed, pretrain_epochs,
                       cache_dir=cache_dir, device=device, progress=progress, threads=threads,
                       architecture=architecture_digest(model))
        pretrain_s = time.perf_counter() - t_pre
        model.load_state_dict(pre.state_dict)
        model = quantize_model(model, schemes, inplace=True).to(dev)
        calibrate_activations(model, bundle.train, batch_size, dev)
        run = train_loop(model, bundle.train, bundle.val, budget, batch_size, seed, dev, abort, progress,
                         f"finetune {bundle.name}")
    elapsed = time.perf_counter() - t0 - pretrain_s
    accuracy = float("nan") if run.diverged else float(run.history[-1])
    if on_model is not None and not run.diverged:
        on_model(model)
    return FinetuneResult(accuracy=accuracy, float_accuracy=pre.float_accuracy, epochs_run=run.epochs_run,
                          steps=run.steps, time_s=elapsed, aborted=run.aborted, reason=run.reason,
                          history=tuple(run.history), diverged=run.diverged, device=str(dev))
