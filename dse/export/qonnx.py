"""A fake-quantized model as a QONNX file (the format FINN and hls4ml read).

The graph is built directly from the model's torch.fx trace (with shapes from running
the example input), one ONNX node per operation, so tensor and node names follow the
model's module names and a plan's layer ``features.3`` shows up as ``features.3.conv``.
Every quantized layer (a :class:`dse.quant.QuantLayer`) becomes::

    input -> Quant (activation) -> Conv / MatMul(+Add) -> ...
                                      ^
             weight (float, on the grid) -> Quant (weight)

with QONNX ``Quant`` nodes (domain ``qonnx.custom_op.general``): ``scale``,
``zeropt = 0``, ``bitwidth``, ``signed``, ``narrow``, ``rounding_mode = ROUND``
(half to even, as ``torch.round``). The float weight initializers hold the weights the
tool's own model computes with, so each weight ``Quant`` reproduces them exactly.

How each number format is written (QONNX has integer ``Quant``, and ``MultiThreshold``
for arbitrary monotone steps; a format with no exact QONNX form is written as the
smallest integer grid that holds all its levels, and the format is recorded):

- ``fixed`` b bits: integers in [-(2^(b-1)-1), 2^(b-1)-1], scale = clip / (2^(b-1)-1),
  ``narrow = 1``: exact, native.
- ``fixed`` with per-row widths ``row_bits``: one scale per row, clip_r / (2^(b_r-1)-1),
  ``bitwidth`` = the widest row (QONNX's bit width is one scalar per node); each row's
  integers stay within its own width (recorded per row in the metadata).
- ``term`` (b-bit grid, term budget per group): the kept values are b-bit integers, so
  the node is the b-bit ``fixed`` one; the budget (terms per group, group size,
  encoding) is a property of the stored values and is recorded. (CSD terms can round a
  magnitude up to 2^(b-1); the bit width then grows by one.)
- ``pow2`` b bits: levels +-2^-i (i = 0..2^(b-1)-2) are integer multiples of
  2^-(2^(b-1)-2); written on that grid: scale = clip * 2^-(2^(b-1)-2), bit width
  2^(b-1) (4-bit pow2 -> 8-bit integers that are all powers of two).
- ``sp2`` b bits: levels are multiples of the smallest power of two among them; written
  on that grid (4-bit SP2 -> 5-bit integers).
- ``msq`` (rows mixed SP2 / fixed): per-row scale on each row's own grid, bit width the
  larger of the two; which rows are SP2 is recorded.
- activations: ``a_bits`` uniform, signed (``narrow = 1``) or unsigned (``narrow = 0``,
  levels 0..2^b-1) as the quantizer fixed on calibration: exact, native. With a term
  budget per activation (``a_term_budget``) the function is a monotone staircase on the
  a_bits grid, written exactly as a ``MultiThreshold`` node (FINN's thresholding op):
  thresholds at the grid midpoints, repeated where a step skips levels.

Per layer the metadata (``model.metadata_props``, key ``dse.layer.<name>``) holds the
scheme and how it was written; each node's ``doc_string`` says the same in one line.
"""

from __future__ import annotations

import json
import math
import operator
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from hwmodels.formats import QuantScheme, levels

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13
IR_VERSION = 8


class ExportError(ValueError):
    """The model cannot be written as QONNX; the message names the node and what to do."""


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_qonnx` wrote."""

    path: str
    nodes: int
    quant_nodes: int
    threshold_nodes: int
    layers: tuple[str, ...]


# --- number formats as integer grids ------------------------------------------------------------

def _pow2_grid(lv: np.ndarray) -> int:
    """Smallest 2^k with every level an integer multiple of 2^-k."""
    for k in range(0, 63):
        scaled = lv * (2.0 ** k)
        if np.all(scaled == np.round(scaled)):
            return 2 ** k
    raise ExportError("levels do not sit on a power-of-two grid")  # pragma: no cover


def _bits_for(max_int: int) -> int:
    """Signed, narrow-range bit width holding integers in [-max_int, max_int]."""
    return max(2, int(max_int).bit_length() + 1)


def weight_grid(scheme: QuantScheme, rows: int, sp2_rows: Optional[np.ndarray] = None) -> tuple[np.ndarray, int, str]:
    """(per-row denominators D_r, bit width, how) for ``scheme``'s weights: the weights are
    integer multiples of clip_r / D_r, within the signed narrow range of the bit width."""
    kind, b = scheme.kind, scheme.w_bits
    n = 2 ** (b - 1) - 1
    if kind == "fixed" and scheme.row_bits is not None:
        den = np.array([2 ** (rb - 1) - 1 for rb in scheme.row_bits], dtype=np.float64)
        return den, b, f"fixed, per-row widths {min(scheme.row_bits)}..{max(scheme.row_bits)} bits: native integer grid per row"
    if kind == "fixed":
        return np.full(rows, float(n)), b, f"fixed {b}-bit: native"
    if kind == "term":
        how = (f"term: {b}-bit integer grid (native); {scheme.term_budget} {scheme.term_encoding} terms per group "
               f"of {scheme.group_size} kept in the stored values")
        return np.full(rows, float(n)), b, how
    if kind in ("pow2", "sp2"):
        d = _pow2_grid(levels(kind, b))
        bw = _bits_for(d)
        return np.full(rows, float(d)), bw, f"{kind} {b}-bit: levels on an integer grid of step 1/{d} ({bw}-bit integers)"
    if kind == "msq":
        d = _pow2_grid(levels("sp2", b))
        mask = np.zeros(rows, dtype=bool) if sp2_rows is None or len(sp2_rows) == 0 else np.asarray(sp2_rows, bool)
        den = np.where(mask, float(d), float(n))
        bw = max(b, _bits_for(d)) if mask.any() else b
        return den, bw, (f"msq {b}-bit: {int(mask.sum())} of {rows} rows SP2 (grid 1/{d}), the rest fixed "
                         f"(grid 1/{n}); {bw}-bit integers, per-row scale")
    raise ExportError(f"kind: no QONNX form for scheme kind {kind!r}")  # pragma: no cover


def activation_staircase(scheme: QuantScheme, signed: bool) -> tuple[np.ndarray, int, int]:
    """(integer thresholds on the a_bits grid as half-steps, lowest output level, count)
    of an activation with a term budget: output level f(q) for grid integer q; thresholds
    at q - 0.5 repeated f(q) - f(q-1) times."""
    from ..quant.terms import term_quantize

    b = scheme.a_bits
    n = 2 ** (b - 1) - 1 if signed else 2 ** b - 1
    lo = -n if signed else 0
    q = np.arange(lo, n + 1, dtype=np.float64)
    f = np.asarray(term_quantize(q, scheme.a_term_budget, 1, scheme.term_encoding), dtype=np.float64)
    steps = np.diff(f).astype(np.int64)
    if np.any(steps < 0):  # pragma: no cover - term truncation is monotone
        raise ExportError("activation term quantization is not monotone")
    thresholds = np.repeat(q[1:] - 0.5, steps)
    return thresholds, int(f[0]), n


# --- graph building -----------------------------------------------------------------------------

class _Builder:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []
        self.names: set[str] = set()
        self.meta: dict[str, str] = {}
        self.quant_nodes = 0
        self.threshold_nodes = 0

    def unique(self, base: str) -> str:
        base = base.replace("/", ".") or "t"
        name, i = base, 1
        while name in self.names:
            name = f"{base}_{i}"
            i += 1
        self.names.add(name)
        return name

    def const(self, base: str, value: Any, dtype: Any = np.float32) -> str:
        name = self.unique(base)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, doc: str = "", domain: str = "", n_out: int = 1,
             **attrs: Any) -> str:
        outs = [self.unique(base if n_out == 1 else f"{base}_{i}") for i in range(n_out)]
        nd = self.helper.make_node(op, inputs, outs, name=self.unique(f"{base}.node"), domain=domain or None,
                                   doc_string=doc or None, **attrs)
        self.nodes.append(nd)
        return outs[0]

    def quant(self, x: str, scale: np.ndarray, bitwidth: int, signed: bool, narrow: bool, base: str,
              doc: str) -> str:
        self.quant_nodes += 1
        s = self.const(f"{base}.scale", scale)
        z = self.const(f"{base}.zeropt", np.zeros_like(np.asarray(scale, dtype=np.float32)))
        bw = self.const(f"{base}.bitwidth", float(bitwidth))
        return self.node("Quant", [x, s, z, bw], base, doc=doc, domain=QONNX_DOMAIN, signed=int(signed),
                         narrow=int(narrow), rounding_mode="ROUND")


def _quant_layer_class():
    from ..quant import QuantLayer

    return QuantLayer


def _act_quant(b: _Builder, x: str, layer: Any, base: str, x_rank: int) -> tuple[str, dict[str, Any]]:
    aq = layer.act_quant
    if not bool(aq.initialized):
        raise ExportError(f"layer {base!r}: its activation quantizer has not seen data yet (no clip, no "
                          "signedness); run the model on a batch first (calibration) and export again")
    scheme = aq.scheme
    signed = bool(aq.signed)
    alpha = float(aq.alpha.detach().abs().clamp_min(1e-8))
    n = aq._levels_n()
    step = alpha / n
    info = {"bits": scheme.a_bits, "signed": signed, "clip": alpha, "scale": step}
    if scheme.a_term_budget is None:
        doc = f"dse activation: {scheme.a_bits}-bit {'signed' if signed else 'unsigned'} uniform, clip {alpha:.6g}"
        info["written_as"] = "Quant (native)"
        return b.quant(x, np.float32(step), scheme.a_bits, signed, signed, f"{base}.act_quant", doc), info
    thr, f_lo, _ = activation_staircase(scheme, signed)
    b.threshold_nodes += 1
    t = b.const(f"{base}.act_quant.thresholds", (thr * step).reshape(1, -1))
    layout = {2: "NC", 3: "NCW", 4: "NCHW"}.get(x_rank, "")
    doc = (f"dse activation: {scheme.a_bits}-bit {'signed' if signed else 'unsigned'} grid, "
           f"{scheme.a_term_budget} {scheme.term_encoding} terms per value: exact staircase "
           f"({len(thr)} thresholds)")
    info.update(written_as="MultiThreshold (exact staircase)", a_term_budget=scheme.a_term_budget,
                thresholds=len(thr))
    bits = scheme.a_bits
    attrs: dict[str, Any] = {"out_dtype": f"INT{bits}" if signed else f"UINT{bits}", "out_scale": float(step),
                             "out_bias": float(f_lo * step)}
    if layout:
        attrs["data_layout"] = layout
    return b.node("MultiThreshold", [x, t], f"{base}.act_quant", doc=doc, domain=QONNX_DOMAIN, **attrs), info


def _weight_quant(b: _Builder, layer: Any, base: str, as_matmul: bool) -> tuple[str, dict[str, Any], bool]:
    wq = layer.weight_quant
    scheme: QuantScheme = wq.scheme
    w = layer.inner.weight.detach()
    with torch.no_grad():
        qw = wq(w).detach().double().numpy()
        alpha = wq._alpha_view(w).detach().double().numpy()
    rows = w.shape[0]
    mask = wq.sp2_rows.detach().cpu().numpy() if wq.sp2_rows.numel() else None
    den, bw, how = weight_grid(scheme, rows, mask)
    alpha_r = np.broadcast_to(alpha.reshape(-1), (rows,)) if alpha.size in (1, rows) else alpha.reshape(-1)
    scale_r = alpha_r / den
    shape = (rows,) + (1,) * (w.ndim - 1)
    ints = np.round(qw / scale_r.reshape(shape))
    exact = bool(np.allclose(ints * scale_r.reshape(shape), qw, rtol=0, atol=1e-6 * float(np.max(alpha_r))))
    top = int(np.abs(ints).max(initial=0))
    if top > 2 ** (bw - 1) - 1:  # CSD terms may round a magnitude up to 2^(b-1): one more bit
        bw = _bits_for(top)
        how += f"; largest stored integer {top} needs {bw} bits"
    weights = (ints * scale_r.reshape(shape)).astype(np.float32)  # the grid values the Quant node reproduces
    per_tensor = scheme.granularity == "per_tensor" and np.all(scale_r == scale_r[0])
    if as_matmul:  # MatMul takes (K, N): rows (output features) become columns
        weights = weights.T.copy()
        scale = np.float32(scale_r[0]) if per_tensor else scale_r.astype(np.float32).reshape(1, rows)
    else:
        scale = np.float32(scale_r[0]) if per_tensor else scale_r.astype(np.float32).reshape(shape)
    winit = b.const(f"{base}.weight", weights)
    doc = f"dse weights: {how}"
    out = b.quant(winit, scale, bw, True, True, f"{base}.weight_quant", doc)
    info: dict[str, Any] = {"format": scheme.kind, "bits": scheme.w_bits, "bitwidth": bw, "written_as": how,
                            "granularity": scheme.granularity, "exact": exact}
    if scheme.row_bits is not None:
        info["row_bits"] = list(scheme.row_bits)
    if mask is not None and scheme.kind == "msq":
        info["sp2_rows"] = [int(i) for i in np.flatnonzero(mask)]
    return out, info, exact


def _conv_attrs(m: nn.Module) -> dict[str, Any]:
    if m.padding_mode != "zeros":
        raise ExportError(f"padding_mode={m.padding_mode!r}: only zero padding exports")
    if isinstance(m.padding, str):  # 'valid' / 'same': torch pads the extra one at the end
        begins, ends = [], []
        for i, k in enumerate(m.kernel_size):
            total = 0 if m.padding == "valid" else m.dilation[i] * (k - 1)
            begins.append(total // 2)
            ends.append(total - total // 2)
    else:
        begins = ends = list(m.padding)
    return {"kernel_shape": list(m.kernel_size), "strides": list(m.stride), "dilations": list(m.dilation),
            "group": int(m.groups), "pads": list(begins) + list(ends)}  # ONNX: all begins, then all ends


class _Exporter:
    def __init__(self, model: nn.Module, b: _Builder):
        self.model = model
        self.b = b
        self.env: dict[fx.Node, Any] = {}
        self.modules = dict(model.named_modules())
        self.layer_meta: dict[str, dict[str, Any]] = {}

    # values: an ONNX tensor name (str) for tensors, a python value otherwise
    def val(self, a: Any) -> Any:
        if isinstance(a, fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.val(x) for x in a)
        return a

    def tensor(self, a: Any, node: fx.Node) -> str:
        v = self.val(a)
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return self.b.const(f"{node.name}.const", np.float32(v))
        raise ExportError(f"node {node.name!r}: an operand is not a tensor ({type(v).__name__})")

    @staticmethod
    def shape(node: fx.Node) -> Optional[tuple[int, ...]]:
        meta = node.meta.get("tensor_meta")
        return tuple(int(s) for s in meta.shape) if meta is not None and hasattr(meta, "shape") else None

    # --- modules ---
    def compute(self, node: fx.Node, m: nn.Module, x: str, in_rank: int, name: str, qlayer: Any = None) -> str:
        b = self.b
        is_linear = isinstance(m, nn.Linear)
        if qlayer is not None:
            meta: dict[str, Any] = {"scheme": qlayer.scheme.to_dict()}
            if qlayer.act_quant is not None:
                x, meta["activation"] = _act_quant(b, x, qlayer, name, in_rank)
            w, meta["weight"], exact = _weight_quant(b, qlayer, name, as_matmul=is_linear)
            if not exact:  # never ship a file that computes something else than the tool
                raise ExportError(f"layer {name!r}: its quantized weights do not sit on the integer grid of "
                                  f"{qlayer.scheme.kind} {qlayer.scheme.w_bits}-bit; this is a bug in "
                                  "dse.qonnx_export, please report it with the plan")
            self.layer_meta[name] = meta
        else:
            wt = m.weight.detach().float().numpy()
            w = b.const(f"{name}.weight", wt.T.copy() if is_linear else wt)
        if is_linear:
            y = b.node("MatMul", [x, w], f"{name}.matmul")
            if m.bias is not None:
                y = b.node("Add", [y, b.const(f"{name}.bias", m.bias.detach().float().numpy())], f"{name}.bias_add")
            return y
        ins = [x, w] + ([b.const(f"{name}.bias", m.bias.detach().float().numpy())] if m.bias is not None else [])
        try:
            attrs = _conv_attrs(m)
        except ExportError as e:
            raise ExportError(f"layer {name!r}: {e}") from None
        return b.node("Conv", ins, f"{name}.conv", **attrs)

    def call_module(self, node: fx.Node) -> Any:
        b = self.b
        name = str(node.target)
        m = self.modules[name]
        QuantLayer = _quant_layer_class()
        if isinstance(m, QuantLayer):
            x = self.tensor(node.args[0], node)
            return self.compute(node, m.inner, x, len(self.shape(node.args[0]) or ()), name, qlayer=m)
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            x = self.tensor(node.args[0], node)
            return self.compute(node, m, x, len(self.shape(node.args[0]) or ()), name)
        x = self.tensor(node.args[0], node) if node.args else None
        if isinstance(m, (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
            return x
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.running_mean is None:
                raise ExportError(f"layer {name!r}: BatchNorm without running statistics does not export")
            c = m.num_features
            w = m.weight.detach().float().numpy() if m.weight is not None else np.ones(c, np.float32)
            bias = m.bias.detach().float().numpy() if m.bias is not None else np.zeros(c, np.float32)
            return b.node("BatchNormalization", [x, b.const(f"{name}.weight", w), b.const(f"{name}.bias", bias),
                                                 b.const(f"{name}.running_mean", m.running_mean.numpy()),
                                                 b.const(f"{name}.running_var", m.running_var.numpy())],
                          name, epsilon=float(m.eps))
        simple = self._activation(m, x, name)
        if simple is not None:
            return simple
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            return self._pool(m, x, name, node)
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self._adaptive(node, m.output_size, x, name)
        if isinstance(m, nn.Flatten):
            return self._reshape(node, x, name)
        raise ExportError(f"module {name!r} ({type(m).__name__}) has no QONNX export here; supported: Conv1d/2d, "
                          "Linear, BatchNorm, ReLU/ReLU6/Hardtanh/LeakyReLU/Sigmoid/Tanh/SiLU, Max/AvgPool, "
                          "AdaptiveAvgPool to 1, Flatten, Dropout, Identity, add/mul/cat/pad/slicing")

    def _activation(self, m: nn.Module, x: str, name: str) -> Optional[str]:
        b = self.b
        if isinstance(m, nn.ReLU):
            return b.node("Relu", [x], name)
        if isinstance(m, (nn.ReLU6, nn.Hardtanh)):
            lo, hi = (0.0, 6.0) if isinstance(m, nn.ReLU6) else (m.min_val, m.max_val)
            return b.node("Clip", [x, b.const(f"{name}.min", np.float32(lo)), b.const(f"{name}.max", np.float32(hi))],
                          name)
        if isinstance(m, nn.LeakyReLU):
            return b.node("LeakyRelu", [x], name, alpha=float(m.negative_slope))
        if isinstance(m, nn.Sigmoid):
            return b.node("Sigmoid", [x], name)
        if isinstance(m, nn.Tanh):
            return b.node("Tanh", [x], name)
        if isinstance(m, nn.SiLU):
            return b.node("Mul", [x, b.node("Sigmoid", [x], f"{name}.sigmoid")], name)
        return None

    def _pool(self, m: nn.Module, x: str, name: str, node: fx.Node) -> str:
        nd = 1 if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) else 2

        def tup(v: Any) -> list[int]:
            return list(v) if isinstance(v, (tuple, list)) else [int(v)] * nd

        k = tup(m.kernel_size)
        s = tup(m.stride if m.stride is not None else m.kernel_size)
        p = tup(m.padding)
        attrs: dict[str, Any] = {"kernel_shape": k, "strides": s, "pads": p + p, "ceil_mode": int(m.ceil_mode)}
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            if tup(m.dilation) != [1] * nd:
                attrs["dilations"] = tup(m.dilation)
            if m.return_indices:
                raise ExportError(f"module {name!r}: MaxPool with return_indices does not export")
            return self.b.node("MaxPool", [x], name, **attrs)
        attrs["count_include_pad"] = int(m.count_include_pad)
        return self.b.node("AveragePool", [x], name, **attrs)

    def _adaptive(self, node: fx.Node, size: Any, x: str, name: str) -> str:
        sizes = size if isinstance(size, (tuple, list)) else (size,)
        out = self.shape(node)
        if any(s not in (1, None) for s in sizes) and not (out and self.shape(node.args[0]) == out):
            raise ExportError(f"node {name!r}: adaptive average pooling exports only to output size 1")
        if out and self.shape(node.args[0]) == out:
            return x
        return self.b.node("GlobalAveragePool", [x], name)

    def _reshape(self, node: fx.Node, x: str, name: str) -> str:
        out = self.shape(node)
        if out is None:
            raise ExportError(f"node {name!r}: no shape known for the reshape")
        src = self.shape(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
        if len(out) == 2 and src and src[0] == out[0] and math.prod(src) == math.prod(out):
            return self.b.node("Flatten", [x], name, axis=1)  # what FINN's and hls4ml's passes look for
        return self.b.node("Reshape", [x, self.b.const(f"{name}.shape", np.array(out, dtype=np.int64), np.int64)],
                           name)

    # --- functions and methods ---
    def call_function(self, node: fx.Node) -> Any:
        b, t, name = self.b, node.target, node.name
        out_shape = self.shape(node)
        if out_shape is None:  # a python value (a size, a shape): computed, never emitted
            return _eval_python(node, self.val)
        if t in (operator.add, torch.add, operator.iadd):
            return b.node("Add", [self.tensor(node.args[0], node), self.tensor(node.args[1], node)], name)
        if t in (operator.sub, torch.sub):
            return b.node("Sub", [self.tensor(node.args[0], node), self.tensor(node.args[1], node)], name)
        if t in (operator.mul, torch.mul, operator.imul):
            return b.node("Mul", [self.tensor(node.args[0], node), self.tensor(node.args[1], node)], name)
        if t in (torch.cat, torch.concat):
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            return b.node("Concat", [self.tensor(a, node) for a in node.args[0]], name, axis=int(dim))
        if t in (torch.flatten, torch.reshape):
            return self._reshape(node, self.tensor(node.args[0], node), name)
        if t in (F.relu, torch.relu):
            return b.node("Relu", [self.tensor(node.args[0], node)], name)
        if t in (torch.sigmoid, F.sigmoid):
            return b.node("Sigmoid", [self.tensor(node.args[0], node)], name)
        if t in (F.adaptive_avg_pool2d, F.adaptive_avg_pool1d):
            size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
            return self._adaptive(node, size, self.tensor(node.args[0], node), name)
        if t is F.pad:
            return self._pad(node)
        if t is operator.getitem:
            return self._slice(node)
        raise ExportError(f"operation {name!r} ({getattr(t, '__name__', t)}) has no QONNX export here; "
                          "write it with modules or operations the exporter knows (see dse.qonnx_export)")

    def call_method(self, node: fx.Node) -> Any:
        b, m, name = self.b, node.target, node.name
        if self.shape(node) is None:
            return _eval_python(node, self.val)
        x = self.tensor(node.args[0], node)
        if m in ("view", "reshape", "flatten", "squeeze", "unsqueeze"):
            return self._reshape(node, x, name)
        if m in ("relu", "relu_"):
            return b.node("Relu", [x], name)
        if m in ("contiguous", "clone", "detach"):
            return x
        if m in ("add", "add_", "mul", "mul_"):
            op = "Add" if m.startswith("add") else "Mul"
            return b.node(op, [x, self.tensor(node.args[1], node)], name)
        if m == "mean":
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = [dims] if isinstance(dims, int) else list(dims)
            keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False))
            return b.node("ReduceMean", [x], name, axes=[int(d) for d in dims], keepdims=int(keep))
        raise ExportError(f"method {name!r} (.{m}) has no QONNX export here")

    def _pad(self, node: fx.Node) -> str:
        x = self.tensor(node.args[0], node)
        pad = list(node.args[1] if len(node.args) > 1 else node.kwargs["pad"])
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", 0.0)
        if mode != "constant":
            raise ExportError(f"node {node.name!r}: only constant padding exports, got mode {mode!r}")
        rank = len(self.shape(node))
        begins, ends = [0] * rank, [0] * rank
        for i in range(len(pad) // 2):  # torch: last dim first, (begin, end) pairs
            begins[rank - 1 - i], ends[rank - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
        b = self.b
        return b.node("Pad", [x, b.const(f"{node.name}.pads", np.array(begins + ends, np.int64), np.int64),
                              b.const(f"{node.name}.value", np.float32(value or 0.0))], node.name, mode="constant")

    def _slice(self, node: fx.Node) -> str:
        x = self.tensor(node.args[0], node)
        idx = node.args[1]
        idx = idx if isinstance(idx, tuple) else (idx,)
        in_shape = self.shape(node.args[0])
        starts, ends, axes, steps = [], [], [], []
        for axis, s in enumerate(idx):
            if s is Ellipsis or (isinstance(s, slice) and s == slice(None)):
                if s is Ellipsis:
                    raise ExportError(f"node {node.name!r}: slicing with ... does not export; write the axes out")
                continue
            if not isinstance(s, slice):
                raise ExportError(f"node {node.name!r}: only slices export (x[:, a:b:c]), not integer indexing")
            step = 1 if s.step is None else int(s.step)
            if step < 1:
                raise ExportError(f"node {node.name!r}: negative slice steps do not export")
            start = 0 if s.start is None else int(s.start)
            end = in_shape[axis] if s.stop is None else int(s.stop)
            starts.append(start), ends.append(end), axes.append(axis), steps.append(step)
        if not axes:
            return x
        b = self.b
        c = lambda tag, v: b.const(f"{node.name}.{tag}", np.array(v, np.int64), np.int64)  # noqa: E731
        return b.node("Slice", [x, c("starts", starts), c("ends", ends), c("axes", axes), c("steps", steps)], node.name)


def _eval_python(node: fx.Node, val: Callable[[Any], Any]) -> Any:
    """A node whose value is not a tensor (``x.size(0)``, ``x.shape``): its traced value
    is only used by reshapes, which take their static shape from shape propagation."""
    return None


def _tracer():
    from ..workloads.trace import Tracer

    return Tracer()


def build_qonnx(model: nn.Module, example_input: torch.Tensor, name: str = "model",
                metadata: Optional[dict[str, Any]] = None):
    """The ONNX ``ModelProto`` of ``model`` (fake-quantized with :func:`dse.quant.quantize_model`
    and calibrated) at the shape of ``example_input`` (batch included); see the module doc.

    Raises:
        ExportError: an operation the exporter does not know, an uncalibrated activation
            quantizer, or a model fx cannot trace (the message names it).
    """
    from onnx import TensorProto, helper

    if not isinstance(example_input, torch.Tensor):
        raise ExportError("example_input: one input tensor is needed (batch dimension included)")
    QuantLayer = _quant_layer_class()
    for lname, mod in model.named_modules():  # before any forward pass, which would calibrate them
        if isinstance(mod, QuantLayer) and mod.act_quant is not None and not bool(mod.act_quant.initialized):
            raise ExportError(f"layer {lname!r}: its activation quantizer has not seen data yet (no clip, no "
                              "signedness); run the model on a batch first (calibration) and export again")
    was_training = model.training
    model.eval()
    try:
        try:
            gm = fx.GraphModule(model, _tracer().trace(model))
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ExportError(f"torch.fx cannot trace {type(model).__name__} ({first}); QONNX export needs a "
                              "traceable forward()") from None
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input)
            expected = model(example_input)
    finally:
        model.train(was_training)
    b = _Builder()
    ex = _Exporter(model, b)
    inputs, outputs = [], []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if inputs:
                raise ExportError(f"forward() takes more than one input ({node.name!r}); QONNX export takes one")
            shape = ex.shape(node)
            inputs.append(helper.make_tensor_value_info("global_in", TensorProto.FLOAT, list(shape)))
            b.names.add("global_in")
            ex.env[node] = "global_in"
        elif node.op == "get_attr":
            raise ExportError(f"node {node.name!r}: a bare parameter or buffer ({node.target}) in forward() does "
                              "not export; use it inside a module")
        elif node.op == "call_module":
            ex.env[node] = ex.call_module(node)
        elif node.op == "call_function":
            ex.env[node] = ex.call_function(node)
        elif node.op == "call_method":
            ex.env[node] = ex.call_method(node)
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                raise ExportError("forward() must return one tensor for QONNX export")
            src = ex.tensor(out, node)
            b.names.add("global_out")
            if src == "global_in" or src not in {o for nd in b.nodes for o in nd.output}:
                b.nodes.append(helper.make_node("Identity", [src], ["global_out"], name="global_out.node"))
            else:  # rename the last tensor rather than add an Identity node
                for nd in b.nodes:
                    for field in (nd.input, nd.output):
                        for i, t in enumerate(field):
                            if t == src:
                                field[i] = "global_out"
            outputs.append(helper.make_tensor_value_info("global_out", TensorProto.FLOAT, list(expected.shape)))
    graph = helper.make_graph(b.nodes, name, inputs, outputs, initializer=b.inits)
    model_proto = helper.make_model(graph, producer_name="dse", opset_imports=[
        helper.make_opsetid("", OPSET), helper.make_opsetid(QONNX_DOMAIN, 1)])
    model_proto.ir_version = IR_VERSION
    meta = {f"dse.layer.{k}": json.dumps(v, sort_keys=True) for k, v in ex.layer_meta.items()}
    for k, v in (metadata or {}).items():
        meta[f"dse.{k}"] = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    helper.set_model_props(model_proto, meta)
    summary = dict(nodes=len(b.nodes), quant_nodes=b.quant_nodes, threshold_nodes=b.threshold_nodes,
                   layers=tuple(ex.layer_meta))
    return model_proto, summary


def export_qonnx(model: nn.Module, example_input: torch.Tensor, path: str | os.PathLike, name: str = "model",
                 metadata: Optional[dict[str, Any]] = None) -> ExportSummary:
    """Write ``model`` as a QONNX file at ``path`` (atomically: nothing is left on failure).

    Raises:
        ExportError: see :func:`build_qonnx`; OSError when ``path`` cannot be written.
    """
    import onnx

    proto, summary = build_qonnx(model, example_input, name, metadata)
    onnx.checker.check_model(proto)
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent or Path(".")))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(proto.SerializeToString())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportSummary(path=str(p), **summary)


def plan_model(bundle: Any, plan: Any, seed: int = 0, pretrain_epochs: Optional[int] = None,
               cache_dir: Any = None) -> tuple[nn.Module, str]:
    """The tool's own fake-quantized model of ``plan`` on ``bundle`` before fine-tuning:
    the cached FP32 weights (pre-trained first when not cached), quantized with the plan
    and calibrated on the first training batch, exactly as a fine-tune starts. A
    shape-only workload (no data) gets its seeded initial weights, calibrated on its
    example input (seeded random values when that is all zeros). Returns (model in eval mode, a note on where the weights came from)."""
    from ..quant import quantize_model
    from ..training import calibrate_activations, check_plan, pretrain, seeded

    schemes = check_plan(bundle, plan)
    dev = torch.device("cpu")
    if bundle.has_data:
        pre = pretrain(bundle, seed, pretrain_epochs, cache_dir=cache_dir)
        with seeded(seed, dev, 1):
            model = bundle.build_model()
            model.load_state_dict(pre.state_dict)
            model = quantize_model(model, schemes, inplace=True)
            calibrate_activations(model, bundle.train, bundle.batch_size, dev)
        note = (f"pre-trained FP32 weights ({pre.epochs} epochs, seed {seed}, {100 * pre.float_accuracy:.2f}%), "
                "quantized with the plan and calibrated; not fine-tuned")
    else:
        with seeded(seed, dev, 1):
            model = quantize_model(bundle.build_model(), schemes, inplace=True)
            model.eval()
            x = bundle.example_input
            if isinstance(x, torch.Tensor) and not bool(x.any()):  # a zeros placeholder calibrates nothing
                x = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                model(x)
        note = (f"workload {bundle.name!r} is shape-only: seeded initial weights (seed {seed}), calibrated on "
                "seeded random inputs; the formats are the plan's, the weights are not trained")
    return model.eval(), note


def export_trial(study: Any, number: int, path: str | os.PathLike, cache_dir: Any = None,
                 note: Optional[Callable[[str], None]] = None) -> tuple[ExportSummary, str]:
    """Write trial ``number`` of a dse ``study`` as QONNX: the study's workload, the
    trial's plan, weights from :func:`plan_model` with the study's seed and pre-training
    epochs. Raises ``UserError`` (one line) for a trial that is not complete and
    feasible, a plan that does not fit the workload, or a model that does not export;
    nothing is written then. ``note`` receives a line before a long step (pre-training
    the FP32 model when it is not cached)."""
    from optuna.trial import TrialState

    from ..errors import UserError
    from ..quant import PlanError
    from ..study import config_from_study, feasible
    from ..workloads import get_workload

    try:
        target = check_target(path)
    except ExportError as e:
        raise UserError(str(e)) from None
    trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not trials:
        raise UserError(f"--trial: study {study.study_name!r} has no trial {number}")
    t = trials[0]
    status = t.user_attrs.get("status", t.state.name.lower())
    if t.state != TrialState.COMPLETE:
        why = f": {t.user_attrs['reason']}" if t.user_attrs.get("reason") else ""
        raise UserError(f"--trial: trial {number} is {status} (state {t.state.name}){why}; export a complete, "
                        "feasible trial (see 'dse export --study S -o pareto.csv')")
    if not feasible(t):
        bad = ", ".join(k for k, v in sorted(t.constraints.items()) if v > 0)
        raise UserError(f"--trial: trial {number} is infeasible (violates {bad}); export a feasible trial")
    point = t.user_attrs.get("point")
    if not point or not point.get("layers"):
        raise UserError(f"--trial: trial {number} has no quantized layers in its design point; nothing to export")
    cfg = config_from_study(study)
    bundle = get_workload(cfg.workload, **dict(cfg.workload_options))
    if not bundle.has_model:
        raise UserError(f"--qonnx: workload {cfg.workload!r} is layers-only (no torch model), so it has no graph "
                        "to export; export the plan instead (--plan-out)")
    from ..training import cache_path, check_plan

    try:
        check_plan(bundle, point)
    except PlanError as e:
        raise UserError(f"--trial: the plan of trial {number} does not fit workload {cfg.workload!r}: {e}") from None
    epochs = cfg.finetune.pretrain_epochs
    if note is not None and bundle.has_data and not cache_path(bundle, cfg.seed, epochs, cache_dir).exists():
        note(f"pre-training {bundle.name} first (seed {cfg.seed}, {epochs or bundle.pretrain_epochs} epochs; "
             "cached for later runs) ...")
    model, how = plan_model(bundle, point, seed=cfg.seed, pretrain_epochs=epochs, cache_dir=cache_dir)
    meta = {"study": study.study_name, "trial": number, "workload": cfg.workload, "weights": how,
            "plan": json.dumps(point, sort_keys=True)}
    try:
        summary = export_qonnx(model, _first(bundle.example_input), target, name=_graph_name(cfg.workload),
                               metadata=meta)
    except ExportError as e:
        raise UserError(f"--qonnx: {e}") from None
    return summary, how


def _first(x: Any) -> torch.Tensor:
    """One example of the example input (batch 1)."""
    return x[:1] if isinstance(x, torch.Tensor) and x.ndim > 0 else x


def _graph_name(workload: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", workload).strip("_") or "model"


def check_target(path: str | os.PathLike, option: str = "--qonnx") -> Path:
    """The output path, checked before any work: an ``.onnx`` name in an existing folder;
    ``ExportError`` (one line naming ``option``) otherwise; ``onnx`` must be installed."""
    hint = qonnx_available()
    if hint:
        raise ExportError(f"{option}: {hint}")
    p = Path(path).expanduser()
    if p.suffix.lower() != ".onnx":
        raise ExportError(f"{option}: the file name must end in .onnx, got {str(path)!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"{option}: folder {str(parent)!r} does not exist; create it or pick another path")
    if p.is_dir():
        raise ExportError(f"{option}: {str(path)!r} is a folder; give a file name ending in .onnx")
    return p


def qonnx_available() -> Optional[str]:
    """``None`` when ``onnx`` imports, else the one-line install hint."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return "QONNX export needs the 'onnx' package: pip install 'termfront-dse[qonnx]'"
    return None


__all__ = ["ExportError", "ExportSummary", "QONNX_DOMAIN", "activation_staircase", "build_qonnx", "check_target",
           "export_qonnx", "export_trial", "plan_model", "qonnx_available", "weight_grid"]
