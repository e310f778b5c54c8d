"""From a torch model to the hardware view: torch.fx trace + shape propagation -> Workload.

Every ``Conv1d``/``Conv2d``/``Linear`` call (grouped and depthwise included, and
``dse.quant.QuantLayer`` wrappers of them) becomes a :class:`hwmodels.LayerSpec` named by
the module's dotted name in ``model.named_modules()``, so a plan written against the
Workload applies to the model unchanged. Shapes come from running the example input
through the traced graph (``ShapeProp``), so the batch of the example input is part of
``M`` (built-in workloads trace one sample).

Edges keep the dataflow between compute layers. Element-wise and shape-only operations
(ReLU, BatchNorm, pooling, flatten, ...) are collapsed; an operation that joins two or
more producers (a residual ``add``, a ``cat``, an SE ``mul``) is kept as a non-compute
node under its fx node name, e.g. ``("layer1.0.conv2", "add")``, ``("add", "layer1.1.conv1")``.

A module called more than once (shared weights) is one layer whose ``M`` sums the calls;
its geometry is that of the first call. Functional convolutions/matmuls (``F.conv2d``,
``torch.matmul``) have no module name a plan could address and are not layers.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any, Iterable

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from hwmodels.workload import LayerSpec, Workload

from ..errors import UserError

COMPUTE_MODULES = (nn.Conv1d, nn.Conv2d, nn.Linear)


class TraceError(UserError):
    """The model cannot be turned into a Workload automatically; the message says what to do."""


def _untraceable_hint(name: str) -> str:
    return (f"give the layers of workload {name!r} explicitly instead: return "
            "{'model': model, 'layers': [hwmodels.LayerSpec.conv(...), ...]} (or a hwmodels.Workload) "
            "from the workload function, or make forward() traceable by torch.fx "
            "(no Python control flow on tensor values)")


def _is_quant_layer(m: nn.Module) -> bool:
    # dse.quant.QuantLayer wraps one compute module as ``inner``; imported lazily to keep
    # this module usable on its own.
    from ..quant import QuantLayer

    return isinstance(m, QuantLayer)


class Tracer(fx.Tracer):
    """Keeps QuantLayer wrappers as leaves (their forward calls a private conv method)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return _is_quant_layer(m) or super().is_leaf_module(m, qualname)


def _compute_module(m: nn.Module) -> nn.Module | None:
    if _is_quant_layer(m):
        m = m.inner
    return m if isinstance(m, COMPUTE_MODULES) else None


def _pair(v: Any, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _conv_spec(name: str, m: nn.Module, in_shape: torch.Size, out_shape: torch.Size) -> LayerSpec:
    groups = m.groups
    if isinstance(m, nn.Conv1d):
        batch, channels, length = in_shape
        out_len = out_shape[-1]
        sizes, outs, kernel = (1, length), (1, out_len), (1, m.kernel_size[0])
        stride, dilation = (1, m.stride[0]), (1, m.dilation[0])
        padding = m.padding if isinstance(m.padding, str) else (0, m.padding[0])
    else:
        batch, channels, h, w = in_shape
        sizes, outs, kernel = (h, w), tuple(out_shape[-2:]), tuple(m.kernel_size)
        stride, dilation = tuple(m.stride), tuple(m.dilation)
        padding = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    padded = []
    for i in range(2):
        if isinstance(padding, str):  # 'same' / 'valid': the extent the output actually reads
            padded.append(max(sizes[i], (outs[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1))
        else:
            padded.append(sizes[i] + 2 * padding[i])
    return LayerSpec(
        name=name, kind="conv", M=outs[0] * outs[1] * batch, K=kernel[0] * kernel[1] * channels // groups,
        N=m.out_channels, groups=groups, ifmap_h=padded[0], ifmap_w=padded[1], filt_h=kernel[0],
        filt_w=kernel[1], channels=channels, stride=max(stride),
        out_h=outs[0], out_w=outs[1],
    )


def _linear_spec(name: str, m: nn.Linear, in_shape: torch.Size) -> LayerSpec:
    rows = math.prod(in_shape[:-1]) if len(in_shape) > 1 else 1
    return LayerSpec.linear(name, m.in_features, m.out_features, batch=max(int(rows), 1))


def _node_inputs(node: fx.Node) -> Iterable[fx.Node]:
    return node.all_input_nodes


def trace_workload(model: nn.Module, example_input: Any, name: str = "model") -> Workload:
    """The hardware view of ``model``: one LayerSpec per compute module call, plus edges.

    Args:
        model: any ``nn.Module`` torch.fx can trace. It is not modified (its train/eval
            mode is restored; the shape pass runs in eval mode without gradients).
        example_input: a tensor (or tuple of tensors, one per ``forward`` argument) of the
            shape one inference sees, batch dimension included.
        name: the Workload's name.

    Raises:
        TraceError: fx cannot trace the model, the example input does not fit it, or it
            has no Conv1d/Conv2d/Linear layer. The message says how to give layers instead.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    try:
        graph = Tracer().trace(model)
        gm = fx.GraphModule(model, graph)
    except Exception as e:  # fx raises TraceError, TypeError, NotImplementedError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TraceError(f"workload {name!r}: torch.fx cannot trace {type(model).__name__} ({first}); "
                         + _untraceable_hint(name)) from None
    was_training = model.training
    gm.eval()
    try:
        # ShapeProp prints a traceback of its own before re-raising: keep stderr to one line
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(*inputs)
    except Exception as e:
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs if isinstance(t, torch.Tensor))
        root = e.__cause__ or e
        first = str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__
        raise TraceError(f"workload {name!r}: the example input {shapes} does not run through "
                         f"{type(model).__name__} ({first}); pass an example input of the shape the model "
                         "expects, batch dimension included") from None
    finally:
        model.train(was_training)

    modules = dict(model.named_modules())
    specs: dict[str, LayerSpec] = {}
    sources: dict[fx.Node, tuple[str, ...]] = {}
    edges: dict[tuple[str, str], None] = {}  # ordered set
    module_names = {n for n in modules if n}

    def add_edge(a: str, b: str) -> None:
        if a != b:
            edges[(a, b)] = None

    for node in gm.graph.nodes:
        preds: list[str] = []
        for arg in _node_inputs(node):
            for s in sources.get(arg, ()):
                if s not in preds:
                    preds.append(s)
        if node.op == "call_module" and _compute_module(modules[node.target]) is not None:
            layer_name = str(node.target)
            m = _compute_module(modules[layer_name])
            in_meta = node.args[0].meta.get("tensor_meta") if isinstance(node.args[0], fx.Node) else None
            out_meta = node.meta.get("tensor_meta")
            if in_meta is None or out_meta is None:
                raise TraceError(f"workload {name!r}: no shape for layer {layer_name!r} after shape "
                                 "propagation; " + _untraceable_hint(name))
            if isinstance(m, nn.Linear):
                spec = _linear_spec(layer_name, m, in_meta.shape)
            else:
                spec = _conv_spec(layer_name, m, in_meta.shape, out_meta.shape)
            if layer_name in specs:  # shared module: one layer, all calls' output pixels
                first = specs[layer_name]
                spec = LayerSpec(**{**first.__dict__, "M": first.M + spec.M})
            specs[layer_name] = spec
            for p in preds:
                add_edge(p, layer_name)
            sources[node] = (layer_name,)
        elif node.op in ("call_function", "call_method", "call_module") and len(preds) >= 2:
            join = node.name
            while join in module_names:
                join = "_" + join
            for p in preds:
                add_edge(p, join)
            sources[node] = (join,)
        else:
            sources[node] = tuple(preds)

    if not specs:
        raise TraceError(f"workload {name!r}: {type(model).__name__} has no Conv1d, Conv2d or Linear "
                         "layer to price; " + _untraceable_hint(name))
    return Workload(name=name, layers=tuple(specs.values()), edges=tuple(edges))


__all__ = ["COMPUTE_MODULES", "TraceError", "trace_workload"]
