"""The allocation's cost: average bits per weight, per MAC or per padded MAC (see the package
doc), as a differentiable function of the learned widths, and the range the bit limits reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch

from ...quant import compute_layer_names
from ...workloads import WorkloadBundle, get_workload
from .quantizer import StepRangeQuantizer
from .spec import AllocationSpec

@dataclass(frozen=True)
class LayerCost:
    """One learned layer's share of the cost: its filters and the coefficient of one filter."""

    name: str
    rows: int
    per_row: float  # weights (size), MACs (macbits) or padded MACs (cycles) of one filter


def cost_terms(bundle: WorkloadBundle, learned: list[str], pinned: list[str], metric: str,
                array_rows: int = 16) -> tuple[list[LayerCost], float, float]:
    """Per-filter coefficients of the learned layers, the pinned layers' fixed cost (at 8
    bits) and the normaliser (total weights or MACs)."""
    specs = {l.name: l for l in bundle.spec.layers}
    missing = [n for n in learned + pinned if n not in specs]
    if missing:
        raise ValueError(f"workload {bundle.name!r}: layer {missing[0]!r} of the model is not in its traced "
                         "hardware view")

    def per_row(name: str) -> float:
        l = specs[name]
        if metric == "size":
            return float(l.K)
        if metric == "cycles":
            return float(-(-l.M // array_rows) * array_rows * l.K)
        return float(l.M * l.K)

    terms = [LayerCost(n, specs[n].N, per_row(n)) for n in learned]
    fixed = sum(8.0 * per_row(n) * specs[n].N for n in pinned)
    total = sum(per_row(l.name) * l.N for l in bundle.spec.layers if l.name in set(learned + pinned))
    return terms, fixed, total


def cost_range(terms: list[LayerCost], fixed: float, total: float, bits_min: int, bits_max: int
               ) -> tuple[float, float]:
    """Smallest and largest average bits the learned layers can reach."""
    low = (sum(t.per_row * t.rows * bits_min for t in terms) + fixed) / total
    high = (sum(t.per_row * t.rows * bits_max for t in terms) + fixed) / total
    return low, high


def average_bits(quantizers: dict[str, StepRangeQuantizer], terms: list[LayerCost], fixed: float,
          total: float) -> torch.Tensor:
    acc = torch.zeros((), dtype=torch.float64)  # exact sums of integer widths
    for t in terms:
        b = quantizers[t.name].bits().double()
        per_layer = b.sum() if b.numel() == t.rows else b.sum() * t.rows
        acc = acc + t.per_row * per_layer
    return (acc + fixed) / total


def layer_split(names: list[str], spec: AllocationSpec) -> tuple[list[str], list[str]]:
    """(learned, pinned) compute layers."""
    pinned = [names[0], names[-1]] if spec.first_last == "fixed8" and len(names) > 2 else []
    return [n for n in names if n not in pinned], pinned


def check_target(workload: Union[str, WorkloadBundle], spec: AllocationSpec) -> tuple[float, float]:
    """The (lowest, highest) average bits the spec's limits reach on ``workload``; raises
    ``ValueError`` (field ``target``) when the target is below the lowest. Builds the model
    only (no data, no training)."""
    bundle = get_workload(workload) if isinstance(workload, str) else workload
    with torch.random.fork_rng(devices=[]):
        names = compute_layer_names(bundle.build_model())
    learned, pinned = layer_split(names, spec)
    terms = cost_terms(bundle, learned, pinned, spec.metric, spec.array_rows)
    low, high = cost_range(*terms, spec.bits_min, spec.bits_max)
    if spec.target < low - 1e-9:
        raise ValueError(f"target: {spec.target:g} average bits is below the smallest reachable "
                         f"{low:.4g} (every learned filter at bits_min = {spec.bits_min})")
    return low, high


def current_bits(quantizers: dict[str, StepRangeQuantizer], terms: list[LayerCost]) -> dict[str, tuple[int, ...]]:
    out = {}
    for t in terms:
        b = [int(v) for v in quantizers[t.name].bits().detach().round().tolist()]
        out[t.name] = tuple(b) if len(b) == t.rows else tuple(b * t.rows)
    return out
