"""The torch.fx walker: one ONNX node (or a few) per traced operation, in the model's names."""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from .grids import ExportError
from .layers import GraphBuilder, act_quant_node, conv_attrs, quant_layer_class, weight_quant_node


class GraphExporter:
    """Walks a traced ``fx.Graph``: ``call_module`` / ``call_function`` / ``call_method`` write
    the ONNX nodes of one fx node into the :class:`GraphBuilder` and return the output's tensor
    name; ``layer_meta`` collects, per quantized layer, how its formats were written."""

    def __init__(self, model: nn.Module, b: GraphBuilder):
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
                x, meta["activation"] = act_quant_node(b, x, qlayer, name, in_rank)
            w, meta["weight"], exact = weight_quant_node(b, qlayer, name, as_matmul=is_linear)
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
            attrs = conv_attrs(m)
        except ExportError as e:
            raise ExportError(f"layer {name!r}: {e}") from None
        return b.node("Conv", ins, f"{name}.conv", **attrs)

    def call_module(self, node: fx.Node) -> Any:
        b = self.b
        name = str(node.target)
        m = self.modules[name]
        QuantLayer = quant_layer_class()
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
            return python_value(node, self.val)
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
            return python_value(node, self.val)
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


def python_value(node: fx.Node, val: Callable[[Any], Any]) -> Any:
    """A node whose value is not a tensor (``x.size(0)``, ``x.shape``): its traced value
    is only used by reshapes, which take their static shape from shape propagation."""
    return None

