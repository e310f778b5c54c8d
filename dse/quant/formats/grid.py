"""Small steps the format quantizers compose: uniform rounding, nearest level, per-row widths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from hwmodels.formats import QuantScheme, get_format, levels


def uniform(c: torch.Tensor, bits: int) -> torch.Tensor:
    """Nearest value of the signed uniform grid ``k / (2^(b-1) - 1)``."""
    n = 2 ** (bits - 1) - 1
    return scaled_round(c, n)


def scaled_round(c: torch.Tensor, n) -> torch.Tensor:
    """``torch.round(c * n) / n`` (``n`` a number or a broadcastable tensor), the same
    values, rounded and divided in place in the product's own new tensor (two fewer
    temporaries: ~20 % of the time on activation-sized tensors)."""
    q = c * n
    q.round_()
    return q.div_(n)


def round_to_levels(x: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    """Nearest value of the sorted level set ``lv`` for each entry of ``x`` (no gradient)."""
    mid = (lv[1:] + lv[:-1]) / 2
    idx = torch.bucketize(x.detach().contiguous(), mid)
    return lv[idx]


def levels_tensor(kind: str, bits: int, like: torch.Tensor) -> torch.Tensor:
    """``hwmodels.formats.levels(kind, bits)`` as a tensor of ``like``'s dtype and device."""
    return torch.as_tensor(levels(kind, bits), dtype=like.dtype, device=like.device)


# (kind, bits, dtype, device) -> (format object, levels, midpoints). Building them costs
# ~25 us of numpy and Python per call, more than rounding a small weight tensor, and a
# training step asks for the same few sets every step. Entries are checked against the
# format currently registered for the kind (a re-registered kind rebuilds), never
# handed out (only read here), and the table is emptied past _LEVELS_CACHE_MAX entries.
_LEVELS_CACHE: dict[tuple, tuple] = {}
_LEVELS_CACHE_MAX = 64


def _levels_and_mids(kind: str, bits: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    key = (kind, bits, like.dtype, like.device)
    fmt = get_format(kind)
    hit = _LEVELS_CACHE.get(key)
    if hit is not None and hit[0] is fmt:
        return hit[1], hit[2]
    lv = levels_tensor(kind, bits, like)
    mid = (lv[1:] + lv[:-1]) / 2
    if len(_LEVELS_CACHE) >= _LEVELS_CACHE_MAX:
        _LEVELS_CACHE.clear()
    _LEVELS_CACHE[key] = (fmt, lv, mid)
    return lv, mid


def nearest_level(c: torch.Tensor, kind: str, bits: int) -> torch.Tensor:
    """Nearest level of ``kind``'s level set at ``bits`` (the same values as
    ``round_to_levels(c, levels_tensor(kind, bits, c))``; the level set and its midpoints
    are built once per kind, width, dtype and device)."""
    lv, mid = _levels_and_mids(kind, bits, c)
    idx = torch.bucketize(c.detach().contiguous(), mid)
    return lv.index_select(0, idx.reshape(-1)).reshape(idx.shape)  # (2x faster than lv[idx] here)


def row_levels_n(scheme: QuantScheme, like: torch.Tensor, row_dim: int = 0) -> torch.Tensor:
    """Largest integer level ``2^(b_r - 1) - 1`` of each row's width (``scheme.row_bits``),
    shaped to broadcast over ``like`` along ``row_dim``; ``ValueError`` when the widths do
    not give one per row."""
    rb = scheme.row_bits
    rows = like.shape[row_dim] if like.ndim else 0
    if rb is None or len(rb) != rows:
        raise ValueError(f"row_bits: the scheme gives {0 if rb is None else len(rb)} row widths for a weight "
                         f"with {rows} rows (output channels)")
    n = torch.as_tensor([2.0 ** (b - 1) - 1 for b in rb], dtype=like.dtype, device=like.device)
    shape = [1] * like.ndim
    shape[row_dim] = -1
    return n.view(shape)


@dataclass(frozen=True)
class Rounding:
    """What a format's ``quantize`` does to each value, in the terms of the fused kernel
    (``dse/quant/native/fakequant.c``): row ``r`` (dim 0) rounds to the uniform grid
    ``round(c * n) / n`` (``n_rows[r]`` when given, else ``n``) unless it is a level row, where
    it takes the nearest of the sorted ``levels`` (ties as ``torch.bucketize`` on ``mids``).
    Level rows: every row when ``levels`` is given and ``level_rows`` is ``None``, else the
    rows where ``level_rows`` (uint8, one per row) is nonzero. Same values as ``quantize``."""

    n: float = 0.0
    n_rows: Optional[torch.Tensor] = None
    levels: Optional[torch.Tensor] = None
    mids: Optional[torch.Tensor] = None
    level_rows: Optional[torch.Tensor] = None


DescribeRounding = Callable[[QuantScheme, Optional[torch.Tensor], torch.Tensor], Optional[Rounding]]
# quantize function -> its description; keyed by the function itself, so a kind registered
# again with another quantizer is never described by the old entry
_ROUNDINGS: dict[Callable, DescribeRounding] = {}


def describe_rounding(quantize: Callable, describe: DescribeRounding) -> None:
    """Declare that ``quantize(c, scheme, rows, 0)`` equals what ``describe(scheme, rows, w)``
    returns for weights ``w`` (rows on dim 0), or that it cannot say (``None``)."""
    _ROUNDINGS[quantize] = describe


def rounding_for(quantize: Callable, scheme: QuantScheme, rows: Optional[torch.Tensor],
                 w: torch.Tensor) -> Optional[Rounding]:
    """The :class:`Rounding` of ``quantize`` for ``scheme`` on weights ``w`` (rows on dim 0),
    or ``None`` when ``quantize`` was not described (its caller then calls it instead)."""
    describe = _ROUNDINGS.get(quantize)
    return None if describe is None else describe(scheme, rows, w)


def uniform_rounding(scheme: QuantScheme, rows: Optional[torch.Tensor], w: torch.Tensor) -> Rounding:
    """:func:`uniform` at ``scheme.w_bits``, or per-row widths (``row_bits``) as in fixed."""
    if scheme.row_bits is not None:
        return Rounding(n_rows=row_levels_n(scheme, w.detach()).reshape(-1).contiguous())
    return Rounding(n=float(2 ** (scheme.w_bits - 1) - 1))


def level_rounding(kind: str, bits: int, like: torch.Tensor, n: float = 0.0,
                   level_rows: Optional[torch.Tensor] = None) -> Rounding:
    """:func:`nearest_level` of ``kind`` at ``bits`` (on ``level_rows`` only, when given;
    the other rows round with ``n``)."""
    lv, mid = _levels_and_mids(kind, bits, like)
    return Rounding(n=n, levels=lv, mids=mid, level_rows=level_rows)
