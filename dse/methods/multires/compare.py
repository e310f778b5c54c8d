"""What the paper's claim is measured against: each resolution as a design point, its hardware
cost, and a model trained at that resolution alone (``dse multires`` prints the three)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from hwmodels.base import DesignPoint
from hwmodels.workload import Workload

from ...training import CPU_THREADS, FinetuneResult, as_bundle, finetune
from .checkpoint import MultiresCheckpoint
from .spec import MultiresSpec, WorkloadLike, resolution_plan


def train_individual(workload: WorkloadLike, spec: MultiresSpec, index: int, seed: int = 0, *,
                     cache_dir: Optional[Union[str, Path]] = None, device: str = "cpu", progress: bool = False,
                     threads: int = CPU_THREADS) -> FinetuneResult:
    """A model trained at resolution ``index`` alone (the baseline of the paper's claim):
    the same FP32 start, layers, epochs, optimizer, schedule and data order as the
    multi-resolution model, cross-entropy only, ordinary BatchNorm."""
    bundle = as_bundle(workload)
    plan = resolution_plan(bundle.spec.layer_names, spec, index)
    return finetune(bundle, plan, spec.finetune_budget(), seed=seed, device=device, progress=progress,
                    cache_dir=cache_dir, pretrain_epochs=spec.pretrain_epochs, threads=threads)


def resolution_point(workload: Workload, spec: MultiresSpec, index: int) -> DesignPoint:
    """The design point of resolution ``index`` (every term layer at that budget)."""
    return DesignPoint.make(resolution_plan(workload.layer_names, spec, index))


def resolution_costs(workload: Workload, spec: MultiresSpec, hwmodel: str = "termserial") -> list[dict[str, float]]:
    """Per resolution: term pairs per MAC over the whole network (MAC-weighted, pinned
    layers included) and the latency the hardware model ``hwmodel`` gives with its
    default knobs."""
    from hwmodels.registry import get_model

    from ...evaluate import complexity_metrics

    model = get_model(hwmodel)
    macs = sum(layer.macs for layer in workload.layers) or 1
    rows = []
    for i in range(len(spec.budgets)):
        point = resolution_point(workload, spec, i)
        report = model.evaluate(workload, point)
        rows.append({"term_pairs_per_mac": complexity_metrics(workload, point)["term_pairs"] / macs,
                     "latency_s": float(report.latency_s), "cycles": float(report.cycles)})
    return rows


def comparison_rows(spec: MultiresSpec, checkpoint: MultiresCheckpoint, costs: Sequence[Mapping[str, float]],
                    individual: Sequence[Optional[FinetuneResult]]) -> list[dict[str, Any]]:
    """One row per resolution (what ``dse multires`` prints): the budget, terms per weight,
    term pairs per MAC and latency (``costs``: :func:`resolution_costs`), the checkpoint's
    accuracy next to the individually trained model's (``None`` where none was trained or
    its accuracy is NaN) and their difference."""
    rows = []
    for i, b in enumerate(spec.budgets):
        ind = individual[i]
        ind_acc = None if ind is None or math.isnan(ind.accuracy) else float(ind.accuracy)
        rows.append({
            "budget": str(b), "act_terms": b.act_terms, "weight_terms": b.weight_terms, "group_size": spec.group_size,
            "weight_terms_per_value": b.weight_terms / spec.group_size,
            "term_pairs_per_mac": costs[i]["term_pairs_per_mac"], "latency_s": costs[i]["latency_s"],
            "multires_accuracy": checkpoint.accuracies[i], "individual_accuracy": ind_acc,
            "delta": None if ind_acc is None else checkpoint.accuracies[i] - ind_acc,
            "individual_time_s": None if ind is None else ind.time_s,
            "multires_time_s": checkpoint.time_s, "checkpoint": checkpoint.path,
        })
    return rows
