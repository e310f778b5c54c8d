"""Quantizers in torch: level sets, term quantization, fake quantization, model wrapping.

The torch-backed names load on first use (module ``__getattr__``), so importing
``dse.quant`` for ``QuantScheme``/``levels``/``max_terms`` (plain hwmodels facts) does not
import torch: hardware-only commands stay light.
"""

from __future__ import annotations

from dse.lazy import lazy_exports

from hwmodels.formats import QuantScheme, levels, max_terms

#: public name -> submodule defining it (loaded on first access)
_LAZY = {
    "ActQuantizer": "fake", "WeightQuantizer": "fake", "assign_sp2_rows": "fake", "fake_quantize": "fake",
    "quantize_normalized": "fake", "round_to_levels": "fake", "row_kurtosis": "fake",
    "PlanError": "model", "QuantLayer": "model", "compute_layer_names": "model", "normalize_plan": "model",
    "quant_layers": "model", "quantize_model": "model",
    "count_terms": "terms", "term_quantize": "terms",
}

__all__ = [
    "ActQuantizer", "PlanError", "QuantLayer", "QuantScheme", "WeightQuantizer", "assign_sp2_rows",
    "compute_layer_names", "count_terms", "fake_quantize", "levels", "max_terms", "normalize_plan",
    "quant_layers", "quantize_model", "quantize_normalized", "round_to_levels", "row_kurtosis",
    "term_quantize",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, ("fake", "model", "terms"), __all__)
