"""A traced, calibrated model as an ONNX ``ModelProto`` and as a file (written atomically), and
the checks on the output path made before any work."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .graph import GraphExporter
from .grids import ExportError
from .layers import QONNX_DOMAIN, GraphBuilder, quant_layer_class

OPSET = 13
IR_VERSION = 8


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_qonnx` wrote."""

    path: str
    nodes: int
    quant_nodes: int
    threshold_nodes: int
    layers: tuple[str, ...]


def fx_tracer():
    """The torch.fx tracer of dse.workloads (quantized layers stay leaf modules)."""
    from ...workloads.trace import Tracer

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
    QuantLayer = quant_layer_class()
    for lname, mod in model.named_modules():  # before any forward pass, which would calibrate them
        if isinstance(mod, QuantLayer) and mod.act_quant is not None and not bool(mod.act_quant.initialized):
            raise ExportError(f"layer {lname!r}: its activation quantizer has not seen data yet (no clip, no "
                              "signedness); run the model on a batch first (calibration) and export again")
    was_training = model.training
    model.eval()
    try:
        try:
            gm = fx.GraphModule(model, fx_tracer().trace(model))
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ExportError(f"torch.fx cannot trace {type(model).__name__} ({first}); QONNX export needs a "
                              "traceable forward()") from None
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input)
            expected = model(example_input)
    finally:
        model.train(was_training)
    b = GraphBuilder()
    ex = GraphExporter(model, b)
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

