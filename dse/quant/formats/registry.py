"""Torch quantizers of the number formats, keyed by scheme kind.

A format's torch side is one small function: ``quantize(c, scheme, rows, row_dim)`` maps
weights already normalised to [-1, 1] to their levels (never differentiated: callers wrap
it in a straight-through estimator). A row-mixed format also gives ``row_state(weight,
scheme)``: the per-row assignment fixed when a layer is wrapped (msq: which rows are SP2).
The torch-free facts of each kind (levels, fields, search space) live in
``hwmodels.formats``; this table only adds the torch realisation. A format with a level
set and no quantizer of its own rounds to its nearest level (:func:`quantizer_for`), so a
plain level-set format needs no torch code at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from hwmodels.formats import QuantScheme, get_format

from .grid import describe_rounding, level_rounding, nearest_level

Quantize = Callable[[torch.Tensor, QuantScheme, Optional[torch.Tensor], int], torch.Tensor]
RowState = Callable[[torch.Tensor, QuantScheme], Optional[torch.Tensor]]


@dataclass(frozen=True)
class FormatQuantizer:
    """The torch realisation of one kind: ``quantize`` and, for row-mixed kinds, ``row_state``."""

    kind: str
    quantize: Quantize
    row_state: Optional[RowState] = None


_QUANTIZERS: dict[str, FormatQuantizer] = {}


def register_quantizer(kind: str, quantize: Quantize, row_state: Optional[RowState] = None) -> FormatQuantizer:
    """Register the torch quantizer of ``kind`` (a kind ``hwmodels.formats`` knows)."""
    get_format(kind)  # ValueError naming the registered kinds
    if kind in _QUANTIZERS:
        raise ValueError(f"kind: a quantizer for {kind!r} is already registered")
    q = FormatQuantizer(kind, quantize, row_state)
    _QUANTIZERS[kind] = q
    return q


def unregister_quantizer(kind: str) -> FormatQuantizer:
    """Remove the quantizer of ``kind``. Returns it."""
    if kind not in _QUANTIZERS:
        raise ValueError(f"kind: no quantizer registered for {kind!r}")
    return _QUANTIZERS.pop(kind)


def nearest_level_quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None,
                           row_dim: int = 0) -> torch.Tensor:
    """Nearest level of the scheme kind's level set at its weight width: pow2, sp2, and any
    plug-in format with a level set and no quantizer of its own."""
    return nearest_level(c, scheme.kind, scheme.w_bits)


def _nearest_level_rounding(scheme: QuantScheme, rows: Optional[torch.Tensor], w: torch.Tensor):
    return level_rounding(scheme.kind, scheme.w_bits, w)


describe_rounding(nearest_level_quantize, _nearest_level_rounding)  # the fused kernel's description


def quantizer_for(kind: str) -> FormatQuantizer:
    """The quantizer registered for ``kind``; for a kind registered without one, rounding to
    the nearest level of its level set. ``ValueError`` for an unknown kind or a format with
    no single level set (row-mixed) and no quantizer."""
    q = _QUANTIZERS.get(kind)
    if q is not None:
        return q
    if get_format(kind).magnitudes is not None:
        return FormatQuantizer(kind, nearest_level_quantize)
    raise ValueError(f"kind: no torch quantizer registered for {kind!r} and it has no single level set; "
                     "register one with dse.quant.formats.register_quantizer")
