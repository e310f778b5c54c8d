"""Apply a quantization plan (layer name -> QuantScheme) to any torch model."""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels.base import DesignPoint
from hwmodels.formats import QuantScheme, formats, get_format

from .fake import ActQuantizer, WeightQuantizer

QUANTIZABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)

PlanLike = Union[DesignPoint, Mapping[str, Union[QuantScheme, Mapping[str, Any]]]]


class PlanError(ValueError):
    """A plan that cannot apply to the model; the message names the layer."""


class QuantLayer(nn.Module):
    """A Conv1d/Conv2d/Linear whose input activations and weights are fake-quantized.

    The wrapped module keeps its own parameters (``inner``), so the float weights stay the
    trainable master copy, as in every QAT recipe.
    """

    def __init__(self, inner: nn.Module, scheme: QuantScheme, sp2_rows: Optional[torch.Tensor] = None,
                 quantize_input: bool = True):
        super().__init__()
        self.inner = inner
        self.scheme = scheme
        self.weight_quant = WeightQuantizer(scheme, inner.weight, sp2_rows)
        self.act_quant = ActQuantizer(scheme) if quantize_input else None

    @property
    def weight(self) -> torch.Tensor:
        return self.inner.weight

    @property
    def bias(self) -> Optional[torch.Tensor]:
        return self.inner.bias

    def set_scheme(self, scheme: QuantScheme) -> None:
        """Switch this layer to ``scheme`` in place, keeping its weights and learned clips
        (e.g. another term budget of a multi-resolution model); kind and granularity stay."""
        self.weight_quant.set_scheme(scheme)
        if self.act_quant is not None:
            self.act_quant.set_scheme(scheme)
        self.scheme = scheme

    def quantized_weight(self) -> torch.Tensor:
        return self.weight_quant(self.inner.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_quant is not None:
            x = self.act_quant(x)
        w = self.weight_quant(self.inner.weight)
        if isinstance(self.inner, nn.Linear):
            return F.linear(x, w, self.inner.bias)
        return self.inner._conv_forward(x, w, self.inner.bias)

    def extra_repr(self) -> str:
        s = self.scheme
        return f"kind={s.kind}, w_bits={s.w_bits}, a_bits={s.a_bits}, granularity={s.granularity}"


def normalize_plan(plan: PlanLike) -> dict[str, QuantScheme]:
    """Plan -> {layer name: QuantScheme}; scheme dicts are validated, errors name the layer."""
    if isinstance(plan, DesignPoint):
        return plan.scheme_map
    if not isinstance(plan, Mapping):
        raise PlanError(f"plan: expected a DesignPoint or a mapping of layer name -> scheme, got {type(plan).__name__}")
    out: dict[str, QuantScheme] = {}
    for name, scheme in plan.items():
        if isinstance(scheme, QuantScheme):
            out[name] = scheme
        else:
            try:
                out[name] = QuantScheme.from_dict(scheme)
            except ValueError as e:
                raise PlanError(f"layer {name!r}: {e}") from None
    return out


def compute_layer_names(model: nn.Module) -> list[str]:
    """Names of the Conv1d/Conv2d/Linear modules of ``model`` (in module order)."""
    return [n for n, m in model.named_modules() if isinstance(m, QUANTIZABLE) and n]


def quantize_model(model: nn.Module, plan: PlanLike, sp2_rows: Optional[Mapping[str, torch.Tensor]] = None,
                   quantize_inputs: bool = True, inplace: bool = False) -> nn.Module:
    """Return a copy of ``model`` whose planned layers are fake-quantized.

    Args:
        model: any nn.Module; the plan names its Conv1d/Conv2d/Linear submodules by their
            dotted names (``model.named_modules()``). Layers not in the plan stay float.
        plan: a DesignPoint or {layer name: QuantScheme or scheme dict}.
        sp2_rows: optional {layer name: bool mask over output channels} for ``msq`` layers;
            by default rows are assigned by :func:`dse.quant.assign_sp2_rows`.
        quantize_inputs: also fake-quantize each planned layer's input activations.
        inplace: modify ``model`` instead of a deep copy.

    Raises:
        PlanError: a layer name the model does not have, or a module that cannot take a
            scheme (not a Conv1d/Conv2d/Linear, an msq mask of the wrong length, or per-row
            widths ``row_bits`` not one per output channel).
    """
    schemes = normalize_plan(plan)
    target = model if inplace else copy.deepcopy(model)
    modules = dict(target.named_modules())
    known = compute_layer_names(target)
    for name, scheme in schemes.items():
        if name not in modules or not name:
            hint = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
            raise PlanError(f"layer {name!r}: not found in the model; its compute layers are: {hint}")
        module = modules[name]
        if isinstance(module, QuantLayer):
            raise PlanError(f"layer {name!r}: already quantized")
        if not isinstance(module, QUANTIZABLE):
            raise PlanError(f"layer {name!r}: is a {type(module).__name__}; only Conv1d, Conv2d and Linear "
                            "layers take a quantization scheme")
        if scheme.row_bits is not None and len(scheme.row_bits) != module.weight.shape[0]:
            raise PlanError(f"layer {name!r}: row_bits gives {len(scheme.row_bits)} row widths, expected "
                            f"{module.weight.shape[0]} (one per output channel)")
        mask = None
        if sp2_rows is not None and name in sp2_rows:
            if not get_format(scheme.kind).row_mixed:
                mixed = " or ".join(f"'{f.kind}'" for f in formats() if f.row_mixed)
                raise PlanError(f"layer {name!r}: an SP2 row assignment needs kind {mixed}, got '{scheme.kind}'")
            mask = torch.as_tensor(sp2_rows[name], dtype=torch.bool, device=module.weight.device)
            if mask.shape != (module.weight.shape[0],):
                raise PlanError(f"layer {name!r}: SP2 row mask has shape {tuple(mask.shape)}, "
                                f"expected ({module.weight.shape[0]},) (one entry per output channel)")
        wrapped = QuantLayer(module, scheme, mask, quantize_inputs)
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        setattr(parent, child, wrapped)
    return target


def quant_layers(model: nn.Module) -> dict[str, QuantLayer]:
    """{layer name: QuantLayer} of a quantized model."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantLayer)}
