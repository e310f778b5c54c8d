"""The fused C kernel behind :func:`dse.quant.fake.lsq_fake_quant` (``native/fakequant.c``).

Forward: the clip value, ``t = x / a``, ``clamp``, the rounding (uniform or nearest level,
described by a :class:`~dse.quant.formats.grid.Rounding`, or any ``quant`` called between
two passes) and ``q * a`` in one pass; backward: the input gradient and the clip gradient's
two row sums in one pass. The same float operations as the torch path in ``fake.py``, so the
same bits: the row sums follow torch's own summation order, whose vector width is found once
per process by comparing with ``torch.sum`` (:func:`sum_width`). Only float32 CPU contiguous
tensors with one clip per tensor or per dim-0 row come here (:func:`plan`); everything else,
and every call when the library is missing (no compiler, ``DSE_NATIVE=0``), takes the torch path.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Optional

import numpy as np
import torch

from . import native
from .formats.grid import Rounding

__all__ = ["backward", "forward", "library", "open_bounds", "plan", "sum_width"]


@functools.lru_cache(maxsize=16)
def open_bounds(lo: float, hi: float, dtype: torch.dtype) -> tuple[float, float]:
    """The neighbours just outside [lo, hi] in ``dtype``: for values of that dtype,
    ``lo' < t < hi'`` (hardtanh's backward test) is exactly ``lo <= t <= hi`` (clamp's)."""
    b = torch.tensor([lo, hi], dtype=dtype)
    return (float(torch.nextafter(b[0], b[0] - 1)), float(torch.nextafter(b[1], b[1] + 1)))


_UNSET = object()
_lib = _UNSET
_width = 0  # torch's float sum vector width (lanes), 0 when no width reproduces it
_GRAIN = 32768  # at::internal::GRAIN_SIZE: smaller sums never run on several threads
_P = ctypes.c_void_p
_I = ctypes.c_int64
_F = ctypes.c_float


def library():
    """The loaded kernel library (compiled on first use), or None: torch path only."""
    global _lib, _width
    if _lib is not _UNSET:
        return _lib
    lib = native.load("fakequant")
    if lib is not None:
        lib.fq_clip.argtypes = [_I, _I, _P, _P, _P, _F, _F, _P, _P, _P, _P]
        lib.fq_scale.argtypes = [_I, _I, _P, _P, _P]
        lib.fq_forward.argtypes = [_I, _I, _I, _P, _P, _P, _F, _F, _F, _P, _I, _P, _P, _P, _I, _P, _P, _P, _P, _P]
        lib.fq_backward.argtypes = [_I, _I, _P, _P, _P, _P, _F, _F, _P, _I, _P, _P, _F, _P, _P, _P]
        lib.fq_rowsum.argtypes = [_I, _I, _P, _I, _P]
        for f in (lib.fq_clip, lib.fq_scale, lib.fq_forward, lib.fq_backward, lib.fq_rowsum):
            f.restype = None
        _width = _sum_width(lib)
    _lib = lib
    return lib


def _sum_width(lib) -> int:
    """The vector width whose cascade order gives torch.sum's float32 bits on rows of many
    lengths (below the size where torch splits a sum across threads), or 0."""
    gen = torch.Generator().manual_seed(12345)
    cases = [(r, n) for n in (*range(1, 70), 127, 128, 129, 255, 1000, 4099, 9216, 20000) for r in (1, 3)]
    data = [torch.randn(r, n, generator=gen) * torch.rand(r, n, generator=gen).pow(3) * 100 for r, n in cases]
    want = [d.sum(1) for d in data]
    for width in (8, 16, 4):
        got = torch.empty(3)
        ok = True
        for d, w in zip(data, want):
            lib.fq_rowsum(d.shape[0], d.shape[1], d.data_ptr(), width, got.data_ptr())
            if not torch.equal(got[: d.shape[0]].view(torch.int32), w.view(torch.int32)):
                ok = False
                break
        if ok:
            return width
    return 0


def sum_width() -> int:
    """The vector width (lanes) of torch's float32 sum on this machine as the kernel
    reproduces it, or 0 (no width matched: the kernel hands its terms to ``torch.sum``)."""
    library()
    return _width


def _row_major(t: torch.Tensor) -> bool:
    """Strides exactly those of a new contiguous tensor, size-1 dims included (``is_contiguous``
    ignores those: a channels_last tensor with one channel passes it, and the layout of the
    torch path's result, which later kernels pick their algorithm by, follows the strides)."""
    if not t.is_contiguous():
        return False
    if 1 not in t.shape:
        return True
    expect = 1
    for size, stride in zip(reversed(t.shape), reversed(t.stride())):
        if stride != expect:
            return False
        expect *= size
    return True


def plan(x: torch.Tensor, alpha: torch.Tensor, factor, shape):
    """(library, clip rows R, factor tensor or None, factor float) when the fused kernel
    handles this call (float32, CPU, contiguous, one clip per tensor or per dim-0 row), else None."""
    lib = _lib if _lib is not _UNSET else library()
    # (torch.jit.trace records torch ops only: a kernel call would not be in the trace)
    if lib is None or torch.jit.is_tracing() or x.dtype != torch.float32 or alpha.dtype != torch.float32 \
            or not x.is_cpu or not alpha.is_cpu or not _row_major(x) or not alpha.is_contiguous():
        return None
    if shape is None:
        if alpha.ndim != 0:
            return None
        rows = 1
    else:
        if alpha.ndim != 1 or x.ndim < 2 or len(shape) != x.ndim or alpha.shape[0] != x.shape[0] \
                or any(s != 1 for s in shape[1:]):
            return None
        rows = x.shape[0]
    if rows == 0 or x.numel() // rows < 2:  # (a sum over one value is no sum in torch: -0.0 stays)
        return None
    if isinstance(factor, torch.Tensor):
        if factor.dtype != torch.float32 or not factor.is_cpu or factor.shape != alpha.shape:
            return None
        return lib, rows, factor.detach().contiguous(), 0.0
    return lib, rows, None, float(factor)


def _kernel_rows(r: Rounding) -> int:
    """-1: the kernel cannot read ``r``'s tensors (contiguous CPU float32, uint8 ``level_rows``,
    one midpoint fewer than levels); else the rows they are for (0: any)."""
    def ok(t, dtype):
        return t is None or (t.dtype == dtype and t.is_cpu and t.is_contiguous() and t.ndim == 1)
    if (r.levels is None) != (r.mids is None) or (r.levels is not None and r.levels.numel() != r.mids.numel() + 1) \
            or (r.levels is None and r.level_rows is not None):
        return -1
    if not (ok(r.n_rows, torch.float32) and ok(r.levels, torch.float32) and ok(r.mids, torch.float32)
            and ok(r.level_rows, torch.uint8)):
        return -1
    counts = {t.numel() for t in (r.n_rows, r.level_rows) if t is not None}
    return -1 if len(counts) > 1 or 0 in counts else (counts.pop() if counts else 0)


def _takes(r: Rounding, rows: int) -> bool:
    """Whether the kernel can read ``r`` for ``rows`` rows (worked out once per description:
    a tensor's dtype, device and size do not change in place)."""
    need = r.__dict__.get("_kernel_rows")
    if need is None:
        need = _kernel_rows(r)
        object.__setattr__(r, "_kernel_rows", need)  # (not a field: no effect on ==, hash or repr)
    return need == 0 or need == rows


def forward(ctx, plan, x, alpha, lo, quant, rounding: Optional[Rounding]):
    """The forward in the kernel; saves t = x / a, the levels q, e and a (or returns None
    when ``quant`` gave something the kernel does not take: the torch path then runs)."""
    lib, R, fac_t, fs = plan
    numel = x.numel()
    inner = numel // R
    fac_p = None if fac_t is None else fac_t.data_ptr()
    out = torch.empty_like(x)
    if rounding is not None and not _takes(rounding, x.shape[0]):
        rounding = None  # (a description the kernel cannot read: quant is called instead)
    if rounding is not None:
        buf = torch.empty(2 * numel + 2 * R)  # t, q, e (grad_scale's value), a (the clip)
        t_p = buf.data_ptr()
        q_p = t_p + 4 * numel
        e_p = q_p + 4 * numel
        a_p = e_p + 4 * R
        q = None
        lv, mid, n_rows, level_rows = rounding.levels, rounding.mids, rounding.n_rows, rounding.level_rows
        rows = x.shape[0] if (n_rows is not None or level_rows is not None) else R
        lib.fq_forward(R, rows, numel // rows, x.data_ptr(), alpha.data_ptr(), fac_p, fs, lo, rounding.n,
                       None if n_rows is None else n_rows.data_ptr(), lv is not None and level_rows is None,
                       None if level_rows is None else level_rows.data_ptr(), None if lv is None else lv.data_ptr(),
                       None if mid is None else mid.data_ptr(), 0 if mid is None else mid.numel(),
                       e_p, a_p, t_p, q_p, out.data_ptr())
    else:
        buf = torch.empty(numel + 2 * R)  # t, e, a
        t_p = buf.data_ptr()
        e_p = t_p + 4 * numel
        a_p = e_p + 4 * R
        c = torch.empty_like(x)
        lib.fq_clip(R, inner, x.data_ptr(), alpha.data_ptr(), fac_p, fs, lo, e_p, a_p, t_p, c.data_ptr())
        q = quant(c)
        if q.dtype != torch.float32 or q.shape != x.shape or not q.is_cpu or not _row_major(q):
            return None  # (the torch path's q * a would take q's layout)
        q_p = q.data_ptr()
        lib.fq_scale(R, inner, q_p, a_p, out.data_ptr())
    # saved (not kept on ctx) so that autograd frees them after the backward, as the torch
    # path's saved tensors. Only offsets into them are kept: the backward takes its pointers
    # from the tensors autograd hands back, which saved-tensor hooks (torch.utils.checkpoint,
    # save_on_cpu) may have replaced by copies, the originals freed
    if q is None:
        ctx.save_for_backward(buf)
    else:
        ctx.save_for_backward(buf, q)
    ctx.fq = (lib, R, inner, lo, fac_t, fs, alpha.shape, x.shape, q_p - t_p if q is None else None, e_p - t_p,
              a_p - t_p)
    return out


def backward(ctx, grad):
    """(input gradient or None, clip gradient or None) for :func:`forward`'s call."""
    saved = ctx.saved_tensors  # (raises when an earlier backward freed them)
    lib, R, inner, lo, fac_t, fs, alpha_shape, shape, q_off, e_off, a_off = ctx.fq
    buf = saved[0]
    if buf.dtype != torch.float32 or not buf.is_cpu or buf.numel() * 4 < a_off + 4 * R:
        raise RuntimeError("lsq_fake_quant: a saved-tensor hook changed the fused kernel's saved buffer")
    buf = buf.contiguous()
    t_p = buf.data_ptr()
    e_p, a_p = t_p + e_off, t_p + a_off
    if q_off is not None:
        q_p = t_p + q_off
    else:
        q = saved[1].to(device="cpu", dtype=torch.float32).contiguous()
        if q.numel() != R * inner:
            raise RuntimeError("lsq_fake_quant: a saved-tensor hook changed the fused kernel's saved levels")
        q_p = q.data_ptr()
    lo_open, hi_open = open_bounds(lo, 1.0, torch.float32)
    layout = None
    if grad.dtype != torch.float32 or not _row_major(grad):
        layout = grad  # (the torch path's input gradient takes the incoming gradient's layout)
        grad = grad.float().contiguous()
    fac_p = None if fac_t is None else fac_t.data_ptr()
    gx = torch.empty_like(grad) if ctx.needs_input_grad[0] else None
    gx_p = None if gx is None else gx.data_ptr()
    if not ctx.needs_input_grad[1]:
        if gx is not None:
            lib.fq_backward(R, inner, t_p, q_p, grad.data_ptr(), a_p, lo_open, hi_open, gx_p, 0, e_p, fac_p, fs,
                            None, None, None)
        return _in_layout(gx, layout), None
    width = _width
    if R == 1 and inner >= _GRAIN and torch.get_num_threads() > 1:
        width = 0  # torch splits this sum across threads: let torch sum the terms
    if width:
        galpha = torch.empty(alpha_shape)
        lib.fq_backward(R, inner, t_p, q_p, grad.data_ptr(), a_p, lo_open, hi_open, gx_p, width, e_p, fac_p, fs,
                        galpha.data_ptr(), None, None)
        return _in_layout(gx, layout), galpha
    p1, p2 = torch.empty_like(grad), torch.empty_like(grad)
    lib.fq_backward(R, inner, t_p, q_p, grad.data_ptr(), a_p, lo_open, hi_open, gx_p, 0, e_p, fac_p, fs, None,
                    p1.data_ptr(), p2.data_ptr())
    size = (R,) + (1,) * (len(shape) - 1) if len(alpha_shape) else ()
    ga = (p1.sum_to_size(size) - p2.sum_to_size(size)).reshape(alpha_shape)
    e_np = np.ctypeslib.as_array((ctypes.c_float * R).from_address(e_p)).reshape(alpha_shape)
    g = np.where(np.abs(e_np) >= e_np.dtype.type(1e-8), ga.numpy(), 0) * np.sign(e_np)
    return _in_layout(gx, layout), torch.from_numpy(np.asarray(g * (fs if fac_t is None else fac_t.numpy())))


def _in_layout(gx: torch.Tensor | None, layout: torch.Tensor | None) -> torch.Tensor | None:
    """``gx`` (row-major) in ``layout``'s strides when given (the same values)."""
    if gx is None or layout is None:
        return gx
    return torch.empty_like(layout, dtype=torch.float32).copy_(gx)
