"""Fake quantization in torch: every QuantScheme kind, straight-through gradients and a
learned clipping scale.

Scale learning follows LSQ (Esser et al., ICLR 2020, "Learned Step Size Quantization"):
a value is quantized as ``alpha * Q(clamp(x / alpha, -1, 1))`` where ``Q`` rounds to the
nearest level of the normalised level set and passes gradients straight through. Autograd
then gives LSQ's scale gradient exactly: ``Q(x/alpha) - x/alpha`` inside the range and
``+-1`` (the clipped level) outside. As in LSQ the scale gradient is multiplied by
``1 / sqrt(n * Qp)`` (n values per scale, Qp the largest integer level) so that the scale
learns at the pace of the weights. ``alpha`` is the clipping value (largest magnitude),
which for non-uniform sets (pow2, SP2) is the natural parameter, as in APoT.

The scale is initialised by a small grid search minimising quantization MSE (per row for
per-row schemes), so that low-bit schemes start from a sensible clip, not from max|w|.
"""

from __future__ import annotations

import functools
import math
import weakref
from typing import Optional

import numpy as np
import torch
from torch import nn

from hwmodels.formats import QuantScheme, get_format

from . import fused
from .formats import assign_sp2_rows, quantizer_for, round_to_levels, row_kurtosis, row_levels_n
from .formats.grid import Rounding, rounding_for
from .fused import open_bounds
from .terms import term_quantize_rows


class _RoundSTE(torch.autograd.Function):
    """Forward: the given quantized values; backward: identity (straight-through)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return xq

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


def ste(x: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
    """``xq`` in the forward pass, gradient of ``x`` in the backward pass."""
    return _RoundSTE.apply(x, xq.detach())


def grad_scale(p: torch.Tensor, factor: float) -> torch.Tensor:
    """Same value as ``p``; gradient multiplied by ``factor`` (LSQ gradient scaling)."""
    return (p - p * factor).detach() + p * factor


_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


class _LsqFakeQuant(torch.autograd.Function):
    """``ste(c, quant(c)) * a`` with ``c = clamp(x / a, lo, 1)`` and the LSQ clip
    ``a = grad_scale(alpha, factor).abs().clamp_min(1e-8)`` (viewed to ``shape``), as ONE
    autograd node.

    Same float operations, in the same order, as composing those torch ops (forward and
    each gradient term: autograd's formulas for mul, div, clamp, abs, clamp_min and the
    reductions to alpha's shape), so values and gradients are bit-identical to the
    composed version (tests/dse/test_fake_quant.py checks it) but a training step runs
    one Python node per quantizer instead of a dozen autograd nodes, and the clip's
    gradient mask is one fused kernel (hardtanh's backward on the bounds' neighbours)
    instead of three comparisons and a ``where``.
    """

    @staticmethod
    def forward(ctx, x, alpha, factor, lo, quant, shape, rounding=None):  # type: ignore[override]
        ctx.native = False
        plan = fused.plan(x, alpha, factor, shape)
        if plan is not None:
            out = fused.forward(ctx, plan, x, alpha, lo, quant, rounding)
            if out is not None:
                ctx.native = True
                return out
        # (numpy >= 2: Python floats stay "weak", so float32 values are computed in float32)
        ctx.on_numpy = alpha.device.type == "cpu" and alpha.dtype in (torch.float32, torch.float64) and _NUMPY2
        if ctx.on_numpy:  # the clip's few values: numpy's IEEE ops in alpha's dtype, without torch dispatch
            f = factor.numpy() if isinstance(factor, torch.Tensor) else factor
            al = alpha.detach().numpy()
            pf = al * f
            e_np = (al - pf) + pf
            e = torch.from_numpy(np.asarray(e_np))
            a = torch.from_numpy(np.asarray(np.maximum(np.abs(e_np), al.dtype.type(1e-8))))
        else:
            pf = alpha * factor
            e = (alpha - pf) + pf  # grad_scale's value
            a = e.abs().clamp_min(1e-8)
        if shape is not None:
            a = a.view(shape)
        t = x / a
        q = quant(torch.clamp(t, lo, 1.0))
        ctx.save_for_backward(t, q, a, e)
        ctx.lo, ctx.factor = lo, factor
        return q * a

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        if ctx.native:
            return (*fused.backward(ctx, grad), None, None, None, None, None)
        t, q, a, e = ctx.saved_tensors
        lo_open, hi_open = open_bounds(ctx.lo, 1.0, t.dtype)
        gt = grad * a  # clamp's backward, in place (elementwise, same values as out of place)
        torch.ops.aten.hardtanh_backward.grad_input(gt, t, lo_open, hi_open, grad_input=gt)
        gx = gt / a if ctx.needs_input_grad[0] else None
        galpha = None
        if ctx.needs_input_grad[1]:
            # mul's and div's gradients for the clip, summed to its shape; -sum(v) == sum(-v),
            # and A + -B == A - B exactly; gt * (t / a) computed in (t / a)'s own tensor
            ga = (grad * q).sum_to_size(a.shape) - torch.div(t, a).mul_(gt).sum_to_size(a.shape)
            ga = ga.reshape(e.shape)
            if ctx.on_numpy and ga.dtype != torch.bfloat16:  # (numpy has no bfloat16: CPU autocast activations)
                # clamp_min's, abs's and the LSQ factor's backward, as below
                e_np, f = e.numpy(), ctx.factor
                g = np.where(np.abs(e_np) >= e_np.dtype.type(1e-8), ga.numpy(), 0) * np.sign(e_np)
                galpha = torch.from_numpy(np.asarray(g * (f.numpy() if isinstance(f, torch.Tensor) else f)))
            else:
                ga = torch.where(e.abs() >= 1e-8, ga, torch.scalar_tensor(0.0, dtype=ga.dtype, device=ga.device))
                ga = ga * e.sgn()
                galpha = ga * ctx.factor
        return gx, galpha, None, None, None, None, None


def lsq_fake_quant(x: torch.Tensor, alpha: torch.Tensor, factor, lo: float, quant,
                   shape: Optional[tuple[int, ...]] = None, rounding: Optional[Rounding] = None) -> torch.Tensor:
    """LSQ fake quantization: ``ste(c, quant(c)) * a`` with ``c = clamp(x / a, lo, 1)`` and
    ``a = grad_scale(alpha, factor).abs().clamp_min(1e-8)`` (viewed to ``shape``), in one
    autograd node with the composed ops' exact values and gradients. ``quant`` maps the
    clipped values to their levels (never differentiated); ``factor`` is a float or a
    tensor of alpha's shape (not differentiated). ``rounding``, when given, says what
    ``quant`` does (:class:`dse.quant.formats.grid.Rounding`), so the fused kernel can do it
    in the same pass; without it the kernel calls ``quant`` between its two passes. Float32
    CPU tensors go through the fused C kernel when it is available, everything else through
    torch ops; both give the same bits."""
    return _LsqFakeQuant.apply(x, alpha, factor, lo, quant, shape, rounding)


def quantize_normalized(c: torch.Tensor, scheme: QuantScheme, sp2_rows: Optional[torch.Tensor] = None,
                        row_dim: int = 0) -> torch.Tensor:
    """Quantize values already normalised to [-1, 1] with ``scheme``'s weight format (no
    gradient). ``c`` holds weights with rows (output channels) on ``row_dim``; term groups
    run along the flattened remaining dims."""
    # detached: the result is never differentiated (``ste``), and term quantization's
    # in-place peeling on a graph-tracked tensor would keep every step's graph alive
    return quantizer_for(scheme.kind).quantize(c.detach(), scheme, sp2_rows, row_dim)


def _row_state(w: torch.Tensor, scheme: QuantScheme) -> Optional[torch.Tensor]:
    """The per-row assignment a row-mixed kind fixes when a layer is wrapped, else ``None``."""
    row_state = quantizer_for(scheme.kind).row_state
    return None if row_state is None else row_state(w, scheme)


def _per_value_terms(q: torch.Tensor, budget: int, encoding: str, n: int) -> torch.Tensor:
    """Integral ``q`` with only each value's ``budget`` largest terms, divided by ``n``."""
    return term_quantize_rows(q.reshape(1, -1), budget, 1, encoding, q.dtype, n).reshape(q.shape)


def _mse_init_scale(w: torch.Tensor, quant, per_row: bool, n_grid: int = 24) -> torch.Tensor:
    """Clip value minimising the quantization MSE, per row or per tensor."""
    w = w.detach()
    if per_row:
        flat = w.reshape(w.shape[0], -1)
        wmax = flat.abs().amax(1).clamp_min(1e-8)
    else:
        flat = w.reshape(1, -1)
        wmax = flat.abs().amax().clamp_min(1e-8).reshape(1)
    best = wmax.clone()
    best_err = torch.full_like(wmax, float("inf"))
    for r in torch.linspace(0.2, 1.0, n_grid, dtype=w.dtype):
        a = wmax * r
        shape = (-1,) + (1,) * (w.ndim - 1) if per_row else ()
        aa = a.view(shape) if per_row else a.reshape(())
        q = quant(torch.clamp(w / aa, -1, 1)) * aa
        err = ((q - w) ** 2).reshape(flat.shape).mean(1)
        better = err < best_err
        best = torch.where(better, a, best)
        best_err = torch.where(better, err, best_err)
    return best if per_row else best.reshape(())


# WeightQuantizer -> (quantizer, scheme, format, row mask and its version, rows, Rounding): kept
# outside the module, so that pickling a module never meets the format objects
_ROUNDINGS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


class WeightQuantizer(nn.Module):
    """Quantizes a weight tensor (rows = output channels on dim 0) with a learned clip."""

    def __init__(self, scheme: QuantScheme, weight: torch.Tensor, sp2_rows: Optional[torch.Tensor] = None):
        super().__init__()
        if scheme.row_bits is not None and len(scheme.row_bits) != weight.shape[0]:
            raise ValueError(f"row_bits: the scheme gives {len(scheme.row_bits)} row widths for a weight with "
                             f"{weight.shape[0]} output channels")
        self.scheme = scheme
        per_row = scheme.granularity == "per_row"
        self.per_row = per_row
        if sp2_rows is None:  # a row-mixed kind's row assignment (msq: the SP2 rows)
            sp2_rows = _row_state(weight, scheme)
        self.register_buffer("sp2_rows", sp2_rows if sp2_rows is not None else torch.zeros(0, dtype=torch.bool))
        alpha = _mse_init_scale(weight, self._quant, per_row)
        self.alpha = nn.Parameter(alpha.clone())
        qp = 2 ** (scheme.w_bits - 1) - 1
        per_scale = weight.numel() / (weight.shape[0] if per_row else 1)
        self._per_scale = per_scale
        self._gscale = 1.0 / math.sqrt(per_scale * qp)
        self._cache: Optional[tuple] = None  # (key, quantized weight) in evaluation
        if scheme.row_bits is not None:  # LSQ's 1/sqrt(n Qp), with each row's own Qp
            self._gscale = 1.0 / torch.sqrt(per_scale * row_levels_n(scheme, alpha))

    def set_scheme(self, scheme: QuantScheme) -> None:
        """Switch to ``scheme`` in place, keeping the learned clip: multi-resolution use,
        where one clip serves every term budget (kept terms nest across budgets). The kind
        and granularity must stay (they fix what the clip means and its shape)."""
        if scheme.kind != self.scheme.kind or scheme.granularity != self.scheme.granularity:
            raise ValueError(f"scheme: can only switch within kind {self.scheme.kind!r} and granularity "
                             f"{self.scheme.granularity!r}, got {scheme.kind!r}/{scheme.granularity!r}")
        self.scheme = scheme
        self._cache = None
        self._gscale = 1.0 / math.sqrt(self._per_scale * (2 ** (scheme.w_bits - 1) - 1))

    def _quant(self, c: torch.Tensor) -> torch.Tensor:
        rows = self.sp2_rows if self.sp2_rows.numel() else None
        return quantize_normalized(c, self.scheme, rows)

    def _alpha_view(self, w: torch.Tensor) -> torch.Tensor:
        g = self._gscale
        if isinstance(g, torch.Tensor):  # per-row widths: one factor per row
            g = g.to(self.alpha.device, self.alpha.dtype)
        a = grad_scale(self.alpha, g).abs().clamp_min(1e-8)
        return a.view((-1,) + (1,) * (w.ndim - 1)) if self.per_row else a

    def _factor(self):
        g = self._gscale
        if isinstance(g, torch.Tensor):  # per-row widths: one factor per row
            g = g.to(self.alpha.device, self.alpha.dtype)
        return g

    def _rounding(self, w: torch.Tensor) -> Optional[Rounding]:
        """What ``_quant`` does, for the fused kernel (cached while the scheme, the format
        and its quantizer, the row assignment and the row count stay)."""
        scheme, rows = self.scheme, self.sp2_rows
        quantize = quantizer_for(scheme.kind).quantize
        fmt = get_format(scheme.kind)
        n_rows = (w.shape[0] if w.ndim else 0, w.dtype, w.device)  # (its tensors are in w's dtype, on its device)
        hit = _ROUNDINGS.get(self)
        if hit is None or hit[0] is not quantize or hit[1] is not scheme or hit[2] is not fmt or hit[3] is not rows \
                or hit[4] != rows._version or hit[5] != n_rows:
            rounding = rounding_for(quantize, scheme, rows if rows.numel() else None, w) if w.ndim else None
            hit = (quantize, scheme, fmt, rows, rows._version, n_rows, rounding)
            _ROUNDINGS[self] = hit
        return hit[6]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (w.ndim - 1) if self.per_row else None
        if torch.is_grad_enabled():
            self._cache = None
            return lsq_fake_quant(w, self.alpha, self._factor(), -1.0, self._quant, shape, self._rounding(w))
        # evaluation: weights, clip and scheme rarely change between calls; reuse the result
        # while the same tensors are unchanged (version counters count in-place updates)
        key = (w._version, self.alpha._version, self.scheme, self.sp2_rows._version)
        cache = getattr(self, "_cache", None)  # (absent on modules pickled before it existed)
        if cache is None or cache[0] is not w or cache[1] is not self.alpha or cache[2] != key:
            out = lsq_fake_quant(w, self.alpha, self._factor(), -1.0, self._quant, shape, self._rounding(w))
            self._cache = (w, self.alpha, key, out)
        return self._cache[3]

    @torch.no_grad()
    def integer_weights(self, w: torch.Tensor) -> torch.Tensor:
        """The quantized weights on the normalised level grid times 2^(b-1)-1 (integers for
        fixed/term; fixed-grid multiples for pow2/sp2 levels)."""
        a = self._alpha_view(w)
        q = self._quant(torch.clamp(w / a, -1, 1))
        if self.scheme.row_bits is not None:
            return q * row_levels_n(self.scheme, q)
        return q * (2 ** (self.scheme.w_bits - 1) - 1)


@functools.lru_cache(maxsize=64)
def _uniform(n: int) -> Rounding:
    """``round(c * n) / n`` (the activation grid) for the fused kernel."""
    return Rounding(n=float(n))


class ActQuantizer(nn.Module):
    """Uniform activation quantizer (``a_bits``) with a learned clip (LSQ-style).

    Signedness is fixed on the first batch (unsigned when that batch has no negative
    values, e.g. after a ReLU, which buys one bit). For the ``term`` kind with
    ``a_term_budget`` each integer activation also keeps only its largest terms.
    """

    def __init__(self, scheme: QuantScheme):
        super().__init__()
        self.scheme = scheme
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("signed", torch.tensor(True))

    def set_scheme(self, scheme: QuantScheme) -> None:
        """Switch to ``scheme`` in place (e.g. another activation term budget), keeping
        the learned clip and the signedness fixed on the first batch."""
        self.scheme = scheme

    def _levels_n(self) -> int:
        b = self.scheme.a_bits
        return 2 ** (b - 1) - 1 if bool(self.signed) else 2 ** b - 1

    def _quant(self, c: torch.Tensor) -> torch.Tensor:
        # never differentiated (ste); see quantize_normalized
        return self._quant_n(c, self._levels_n())

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        self.signed.fill_(bool((x < 0).any()))
        low = -1.0 if bool(self.signed) else 0.0
        sample = x.detach().reshape(1, -1)
        if sample.shape[1] > 65536:  # deterministic subsample keeps init cheap
            sample = sample[:, :: sample.shape[1] // 65536 + 1]
        alpha = _mse_init_scale(sample, lambda c: self._quant(torch.clamp(c, low, 1)), per_row=False)
        self.alpha.copy_(alpha)
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            self._init(x)
        signed = bool(self.signed)
        b = self.scheme.a_bits
        n = 2 ** (b - 1) - 1 if signed else 2 ** b - 1
        per_item = math.prod(x.shape[1:]) if x.ndim > 1 else x.numel()
        rounding = None if self.scheme.a_term_budget is not None else _uniform(n)
        return lsq_fake_quant(x, self.alpha, 1.0 / math.sqrt(per_item * n), -1.0 if signed else 0.0,
                              functools.partial(self._quant_n, n=n), None, rounding)

    def _quant_n(self, c: torch.Tensor, n: int) -> torch.Tensor:
        if self.scheme.a_term_budget is not None:  # round(c * n) inside, then each value's top terms, / n
            return term_quantize_rows(c.detach().reshape(1, -1), self.scheme.a_term_budget, 1,
                                      self.scheme.term_encoding, c.dtype, n, prescale=n).reshape(c.shape)
        q = c.detach() * n
        q.round_()  # (in place in the product's new tensor: the values of torch.round(c * n))
        return q.div_(n)


def fake_quantize(x: torch.Tensor, scheme: QuantScheme, alpha: torch.Tensor | float | None = None,
                  role: str = "weight", sp2_rows: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Functional fake quantization of ``x`` with ``scheme`` (straight-through gradient).

    ``role='weight'`` uses the weight format (rows on dim 0 for per-row schemes);
    ``role='act'`` the uniform ``a_bits`` activation format (signed). ``alpha`` is the clip
    value (scalar, or one per row); by default max|x| (per row for per-row weights). A
    tensor ``alpha`` with ``requires_grad`` receives the LSQ scale gradient (unscaled).
    """
    if role not in ("weight", "act"):
        raise ValueError(f"role: must be 'weight' or 'act', got {role!r}")
    per_row = role == "weight" and scheme.granularity == "per_row" and x.ndim > 1
    if alpha is None:
        alpha = (x.detach().reshape(x.shape[0], -1).abs().amax(1) if per_row else x.detach().abs().max())
    a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device).abs().clamp_min(1e-8)
    if per_row and a.ndim == 1:
        a = a.view((-1,) + (1,) * (x.ndim - 1))
    c = torch.clamp(x / a, -1, 1)
    if role == "weight":
        if sp2_rows is None:
            sp2_rows = _row_state(x, scheme)
        q = quantize_normalized(c, scheme, sp2_rows)
    else:
        n = 2 ** (scheme.a_bits - 1) - 1
        q = torch.round(c.detach() * n)
        if scheme.a_term_budget is not None:
            q = _per_value_terms(q, scheme.a_term_budget, scheme.term_encoding, n)
        else:
            q = q / n
    return ste(c, q) * a


__all__ = ["ActQuantizer", "WeightQuantizer", "assign_sp2_rows", "fake_quantize", "grad_scale",
           "lsq_fake_quant", "quantize_normalized", "round_to_levels", "row_kurtosis", "row_levels_n", "ste"]
