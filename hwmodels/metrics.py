"""Hardware-independent complexity of a design point: bits and terms, per layer and total.

- ``avg_weight_bits``: weight bits averaged over every weight of the network
  (``sum(weights_l * w_bits_l) / sum(weights_l)``), i.e. model size / weight count;
- ``mac_bits``: ``sum(MACs_l * w_bits_l)``, the work of a bit-serial unit that walks the
  weight bits (the complexity metric of "Mixed precision DNNs: all you need is a good
  parametrization" style bit allocation);
- a layer whose scheme has per-row widths (``QuantScheme.row_bits``) counts each row
  (output channel) at its own width: weights per row ``K`` and MACs per row ``M * K``, so
  ``weight_bits = K * sum(row_bits)`` and ``mac_bits = M * K * sum(row_bits)``;
- ``term_pairs``: ``sum(MACs_l * weight_terms_per_value_l * act_terms_per_value_l)``, the
  work of a term-serial unit (one weight term x one activation term per cycle).

Every hardware model fills :class:`~hwmodels.base.LayerCost` ``mac_bits`` and
``term_pairs`` from :func:`layer_mac_bits` / :func:`layer_term_pairs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import DesignPoint, schemes_for
from .formats import QuantScheme
from .workload import LayerSpec, Workload, layer_sum


def check_row_bits(layer: LayerSpec, scheme: QuantScheme) -> None:
    """``ValueError`` naming the layer when per-row widths do not give one width per
    output channel."""
    if scheme.row_bits is not None and len(scheme.row_bits) != layer.N:
        raise ValueError(f"row_bits: layer {layer.name!r} has {layer.N} output channels but its scheme gives "
                         f"{len(scheme.row_bits)} row widths")


def layer_bit_sum(layer: LayerSpec, scheme: QuantScheme) -> int:
    """Sum of the weight widths over the layer's rows (output channels): ``N * w_bits``,
    or ``sum(row_bits)``."""
    if scheme.row_bits is None:
        return layer.N * scheme.w_bits
    check_row_bits(layer, scheme)
    return sum(scheme.row_bits)


def layer_weight_bits(layer: LayerSpec, scheme: QuantScheme) -> int:
    """Bits of all weights of ``layer`` (weights x w_bits; per-row widths: K x each row's)."""
    return layer.K * layer_bit_sum(layer, scheme)


def layer_mac_bits(layer: LayerSpec, scheme: QuantScheme) -> float:
    """MACs x weight bits (per-row widths: M x K MACs per row x each row's width)."""
    return float(layer.M * layer.K * layer_bit_sum(layer, scheme))


def layer_term_pairs(layer: LayerSpec, scheme: QuantScheme) -> float:
    """MACs x weight terms per value x activation terms per value (per-row widths: each
    row's ``w - 1`` magnitude bits)."""
    if scheme.row_bits is not None:
        terms = layer_bit_sum(layer, scheme) - layer.N  # sum over rows of (w_r - 1)
        return float(layer.M * layer.K * terms * scheme.act_terms_per_value)
    return float(layer.macs * scheme.weight_terms_per_value * scheme.act_terms_per_value)


@dataclass(frozen=True)
class LayerMetrics:
    name: str
    weights: int
    macs: int
    w_bits: int  # the widest row's, for per-row widths
    weight_bits: int
    mac_bits: float
    term_pairs: float


@dataclass(frozen=True)
class Metrics:
    """Per-layer and total complexity of one design point on one workload."""

    layers: tuple[LayerMetrics, ...]

    weights = layer_sum("weights")
    weight_bits = layer_sum("weight_bits")

    @property
    def avg_weight_bits(self) -> float:
        n = self.weights
        return self.weight_bits / n if n else 0.0

    mac_bits = layer_sum("mac_bits", float)
    term_pairs = layer_sum("term_pairs", float)

    def summary(self) -> dict[str, float]:
        return {"avg_weight_bits": self.avg_weight_bits, "mac_bits": self.mac_bits,
                "term_pairs": self.term_pairs, "weight_bits": float(self.weight_bits)}


def metrics(workload: Workload, point: DesignPoint) -> Metrics:
    """All complexity metrics of ``point`` on ``workload`` (layers absent from the point
    take its default scheme; plan names not in the workload are an error)."""
    return Metrics(tuple(
        LayerMetrics(layer.name, layer.weights, layer.macs, s.w_bits, layer_weight_bits(layer, s),
                     layer_mac_bits(layer, s), layer_term_pairs(layer, s))
        for layer, s in schemes_for(workload, point)))


def avg_weight_bits(workload: Workload, point: DesignPoint) -> float:
    return metrics(workload, point).avg_weight_bits


def mac_bits(workload: Workload, point: DesignPoint) -> float:
    return metrics(workload, point).mac_bits


def term_pairs(workload: Workload, point: DesignPoint) -> float:
    return metrics(workload, point).term_pairs
