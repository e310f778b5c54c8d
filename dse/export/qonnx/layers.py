"""The ONNX graph under construction (:class:`GraphBuilder`) and how one quantized layer is
written into it: its activation ``Quant`` / ``MultiThreshold`` node and its weight ``Quant`` node."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels.formats import QuantScheme, get_format

from .grids import ExportError, activation_staircase, bits_for, weight_grid

QONNX_DOMAIN = "qonnx.custom_op.general"


class GraphBuilder:
    """The nodes and initializers of the graph being written, with unique tensor names."""

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


def quant_layer_class():
    """:class:`dse.quant.QuantLayer`, imported on use."""
    from ...quant import QuantLayer

    return QuantLayer


def act_quant_node(b: GraphBuilder, x: str, layer: Any, base: str, x_rank: int) -> tuple[str, dict[str, Any]]:
    """The activation quantizer of ``layer`` applied to tensor ``x``: a native ``Quant`` node, or an
    exact ``MultiThreshold`` staircase under a term budget. Returns (output name, metadata)."""
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


def weight_quant_node(b: GraphBuilder, layer: Any, base: str, as_matmul: bool) -> tuple[str, dict[str, Any], bool]:
    """The quantized weights of ``layer`` as a float initializer on the integer grid of its format
    and the ``Quant`` node reproducing them. Returns (output name, metadata, whether exact)."""
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
        bw = bits_for(top)
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
    if mask is not None and get_format(scheme.kind).row_mixed:
        info["sp2_rows"] = [int(i) for i in np.flatnonzero(mask)]
    return out, info, exact


def conv_attrs(m: nn.Module) -> dict[str, Any]:
    """ONNX ``Conv`` attributes of a torch convolution (pads as all begins, then all ends)."""
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

