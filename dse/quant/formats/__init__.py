"""One module per number format's torch quantizer, registered by kind.

``fixed``, ``pow2``, ``sp2``, ``term`` and ``msq`` register themselves on import; a new
format registers its torch side with :func:`register_quantizer` (its torch-free facts go
to ``hwmodels.formats.register_format``).
"""

from __future__ import annotations

from . import fixed, msq, pow2, sp2, term  # noqa: F401  (each registers its quantizer)
from .grid import levels_tensor, nearest_level, round_to_levels, row_levels_n, uniform
from .msq import assign_sp2_rows, row_kurtosis
from .registry import FormatQuantizer, quantizer_for, register_quantizer, unregister_quantizer

__all__ = ["FormatQuantizer", "assign_sp2_rows", "levels_tensor", "nearest_level", "quantizer_for",
           "register_quantizer", "round_to_levels", "row_kurtosis", "row_levels_n", "uniform",
           "unregister_quantizer"]
