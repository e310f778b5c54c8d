"""Sum of two powers of two (Mix-and-Match's SP2): nearest level of the SP2 set.

The levels are ``hwmodels.formats``'; the torch side is the shared nearest-level quantizer
(:func:`~dse.quant.formats.registry.nearest_level_quantize`, its rounding described for the
fused kernel there)."""

from __future__ import annotations

from .registry import nearest_level_quantize, register_quantizer

KIND = "sp2"

quantize = nearest_level_quantize

register_quantizer(KIND, quantize)
