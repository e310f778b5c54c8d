"""Calls into the fused C kernel of term quantization (``native/terms.c``): argument types,
which tensors it reads, one function per entry point. Each returns ``None`` where the kernel
does not apply or reports a value outside the tables it was given; the caller
(:mod:`dse.quant.terms`, which owns the tables and the method) then takes its torch path."""

from __future__ import annotations

import ctypes
from typing import Optional

import torch

from . import native

DTYPES = {torch.float32: 0, torch.float64: 1, torch.int32: 2, torch.int64: 3}  # (terms.c's IN_*)


def load() -> Optional[ctypes.CDLL]:
    """The compiled kernel with its argument types declared, or ``None`` (no compiler, a
    failed build, ``DSE_NATIVE=0``)."""
    lib = native.load("terms")
    if lib is not None:
        i32, i64, ptr, f64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
        lib.term_values.argtypes = [ptr, i32, i64, i32, f64, i32, ptr, i32, ptr]
        lib.term_rows.argtypes = [ptr, i32, i64, i64, i32, f64, i64, i64, ptr, i32, ptr, i32, i32, i32, i32,
                                  i32, i64, ptr, i32, ptr, ctypes.POINTER(i32)]
        lib.term_integral.argtypes = [ptr, i32, i64, ctypes.POINTER(f64)]
        lib.term_values.restype = lib.term_rows.restype = lib.term_integral.restype = i64
    return lib


def kernel_input(x: torch.Tensor, prescale: Optional[int]) -> Optional[torch.Tensor]:
    """``x`` as the kernel reads it (CPU, contiguous, float32/64 or int32/64; ``prescale``
    only with floats), or ``None``."""
    if x.device.type != "cpu" or x.dtype not in DTYPES or (prescale is not None and not x.dtype.is_floating_point):
        return None
    return x.contiguous()


def integral_range(lib: ctypes.CDLL, t: torch.Tensor) -> Optional[tuple[bool, tuple[float, float]]]:
    """Whether every value of floating ``t`` equals its rounding (NaN does not), and the
    smallest and largest value; ``None``: not handled."""
    if not t.is_contiguous() or not t.dtype.is_floating_point or kernel_input(t, None) is None:
        return None
    rng = (ctypes.c_double * 2)()
    ok = bool(lib.term_integral(t.data_ptr(), DTYPES[t.dtype], t.numel(), rng))
    return ok, (rng[0], rng[1])


def per_value(lib: ctypes.CDLL, x: torch.Tensor, table: torch.Tensor, vmax: int,
              prescale: Optional[int]) -> Optional[torch.Tensor]:
    """``table[value + vmax]`` for each value (``round(x * prescale)`` with ``prescale``)."""
    xc = kernel_input(x, prescale)
    if xc is None or table.device.type != "cpu":
        return None
    out = torch.empty(x.shape, dtype=table.dtype)
    rc = lib.term_values(xc.data_ptr(), DTYPES[xc.dtype], xc.numel(), prescale is not None,
                         float(prescale) if prescale is not None else 0.0, vmax, table.data_ptr(),
                         table.element_size(), out.data_ptr())
    return out if rc == 0 else None


def groups(lib: ctypes.CDLL, x: torch.Tensor, budget: int, row_budgets: Optional[torch.Tensor], g: int, vmax: int,
           codes: torch.Tensor, w: int, swar: bool, per_word: int, n_pos: int, most: int, cuts: torch.Tensor,
           prescale: Optional[int], value_range: Optional[list] = None) -> Optional[torch.Tensor]:
    """Rows of ``x`` in groups of ``g``, one budget (or ``row_budgets``, int64, one per row),
    with the tables of ``terms._table_rows``; ``value_range`` (a list) receives the smallest
    and largest value met."""
    xc = kernel_input(x, prescale)
    if xc is None or codes.shape[0] > 64:
        return None
    rows, length = x.shape
    out = torch.empty(x.shape, dtype=cuts.dtype)
    seen = (ctypes.c_int32 * 2)() if value_range is not None else None
    rc = lib.term_rows(xc.data_ptr(), DTYPES[xc.dtype], rows, length, prescale is not None,
                       float(prescale) if prescale is not None else 0.0, g, budget,
                       row_budgets.data_ptr() if row_budgets is not None else None, vmax, codes.data_ptr(),
                       codes.shape[0], w, per_word, swar, n_pos, most, cuts.data_ptr(), cuts.element_size(),
                       out.data_ptr(), seen)
    if rc != 0:
        return None
    if value_range is not None:
        value_range[:] = [seen[0] - vmax, seen[1] - vmax]
    return out
