"""Quantizers in torch: level sets, term quantization, fake quantization, model wrapping."""

from hwmodels.formats import QuantScheme, levels, max_terms

from .fake import (ActQuantizer, WeightQuantizer, assign_sp2_rows, fake_quantize, quantize_normalized,
                   round_to_levels, row_kurtosis)
from .model import PlanError, QuantLayer, compute_layer_names, normalize_plan, quant_layers, quantize_model
from .terms import count_terms, term_quantize

__all__ = [
    "ActQuantizer", "PlanError", "QuantLayer", "QuantScheme", "WeightQuantizer", "assign_sp2_rows",
    "compute_layer_names", "count_terms", "fake_quantize", "levels", "max_terms", "normalize_plan",
    "quant_layers", "quantize_model", "quantize_normalized", "round_to_levels", "row_kurtosis",
    "term_quantize",
]
