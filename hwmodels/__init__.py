"""Analytic hardware models and the shared domain vocabulary (numpy + networkx only)."""

from .base import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, Unsupported,
                   check_fit)
from .formats import QuantScheme, levels, max_terms
from .workload import LayerSpec, Workload

__all__ = [
    "DesignPoint", "HardwareModel", "HwReport", "Knob", "LayerCost", "LayerSpec", "QuantScheme",
    "Resources", "Unsupported", "Workload", "check_fit", "levels", "max_terms",
]
