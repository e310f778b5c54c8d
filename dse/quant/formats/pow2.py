"""One power of two per weight: nearest of 0, +-2^-i.

The levels are ``hwmodels.formats``'; the torch side is the shared nearest-level quantizer
(:func:`~dse.quant.formats.registry.nearest_level_quantize`, its rounding described for the
fused kernel there)."""

from __future__ import annotations

from .registry import nearest_level_quantize, register_quantizer

KIND = "pow2"

quantize = nearest_level_quantize

register_quantizer(KIND, quantize)
