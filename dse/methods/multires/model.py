"""The multi-resolution model: a quantized network whose term layers and BatchNorms switch
between the spec's resolutions (one BatchNorm per resolution, everything else shared)."""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn

from hwmodels.formats import QuantScheme

from ...quant import QuantLayer, quant_layers, quantize_model
from ...training import to_device
from ...workloads import WorkloadBundle
from .spec import MultiresSpec, nearest_resolution, pinned_layers, resolution_plan

class SwitchableBatchNorm(nn.Module):
    """One BatchNorm per resolution (statistics and affine parameters); ``active`` picks."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, resolutions: int):
        super().__init__()
        self.bns = nn.ModuleList(copy.deepcopy(bn) for _ in range(resolutions))
        self.active = resolutions - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.active](x)

    def extra_repr(self) -> str:
        return f"resolutions={len(self.bns)}, active={self.active}"


def _swap_batchnorms(net: nn.Module, resolutions: int) -> None:
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            setattr(parent, child, SwitchableBatchNorm(module, resolutions))


class MultiresModel(nn.Module):
    """A quantized model whose term layers and BatchNorms switch between resolutions.

    ``term_layers`` are the multi-resolution compute layers (the others, with
    ``first_last = "fixed8"``, stay at 8-bit fixed point); ``bn_feeds`` maps each
    switchable BatchNorm to the compute layer that last ran before it (the one feeding it).
    """

    def __init__(self, net: nn.Module, spec: MultiresSpec, term_layers: Sequence[str]):
        super().__init__()
        self.net = net
        self.spec = spec
        self.term_layers = tuple(term_layers)
        self.bn_feeds: dict[str, Optional[str]] = {}

    def forward(self, x: Any) -> torch.Tensor:
        return self.net(x)

    def layers(self) -> dict[str, QuantLayer]:
        return quant_layers(self.net)

    def batchnorms(self) -> dict[str, SwitchableBatchNorm]:
        return {n: m for n, m in self.net.named_modules() if isinstance(m, SwitchableBatchNorm)}

    def set_resolution(self, index: int) -> None:
        """Run every term layer and BatchNorm at resolution ``index`` of the budget list."""
        if not 0 <= index < len(self.spec.budgets):
            raise IndexError(f"resolution: index {index} out of range 0..{len(self.spec.budgets) - 1}")
        scheme = self.spec.scheme(index)
        layers = self.layers()
        for name in self.term_layers:
            layers[name].set_scheme(scheme)
        for bn in self.batchnorms().values():
            bn.active = index

    def apply_schemes(self, schemes: Mapping[str, QuantScheme]) -> dict[str, int]:
        """Run each term layer with its own scheme (per-layer budgets, already checked by
        :func:`check_point`); each BatchNorm takes the resolution nearest to the budget of
        the layer feeding it (the teacher's when that layer is not a term layer).
        Returns {BatchNorm name: resolution index}."""
        layers = self.layers()
        for name in self.term_layers:
            layers[name].set_scheme(schemes[name])
        chosen = {}
        for name, bn in self.batchnorms().items():
            feed = self.bn_feeds.get(name)
            s = schemes.get(feed) if feed in self.term_layers else None
            bn.active = self.spec.teacher if s is None else nearest_resolution(self.spec, s)
            chosen[name] = bn.active
        return chosen

    def trace_feeds(self, example: Any) -> None:
        """Record which compute layer runs last before each BatchNorm (one eval forward;
        activation quantizers must already be initialised)."""
        last: list[Optional[str]] = [None]
        feeds: dict[str, Optional[str]] = {}
        hooks = []
        for name, layer in self.layers().items():
            hooks.append(layer.register_forward_hook(lambda m, i, o, n=name: last.__setitem__(0, n)))
        for name, bn in self.batchnorms().items():
            hooks.append(bn.register_forward_pre_hook(lambda m, i, n=name: feeds.__setitem__(n, last[0])))
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self(example)
        finally:
            for h in hooks:
                h.remove()
            self.train(was_training)
        self.bn_feeds = feeds


def build_model(bundle: WorkloadBundle, spec: MultiresSpec, state_dict: Optional[Mapping[str, Any]] = None,
                float_state: Optional[Mapping[str, Any]] = None, calibration: Optional[Any] = None,
                device: torch.device = torch.device("cpu")) -> MultiresModel:
    """The multi-resolution model of ``bundle``: from a checkpoint ``state_dict``, or from
    FP32 weights ``float_state`` with activation clips calibrated on the batch
    ``calibration`` at the teacher's resolution (as :func:`dse.training.finetune` does)."""
    if state_dict is None and calibration is None:
        raise ValueError("build_model: give a checkpoint state_dict, or a calibration batch for fresh clips")
    names = list(bundle.spec.layer_names)
    pinned = pinned_layers(names, spec)
    net = bundle.build_model()
    if float_state is not None:
        net.load_state_dict(float_state)
    plan = resolution_plan(names, spec, spec.teacher)
    quantize_model(net, plan, inplace=True)
    _swap_batchnorms(net, len(spec.budgets))
    model = MultiresModel(net, spec, [n for n in names if n not in pinned]).to(device)
    model.set_resolution(spec.teacher)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    elif calibration is not None:
        model.eval()
        with torch.no_grad():
            model(to_device(calibration, device))
    model.trace_feeds(to_device(bundle.example_input, device))
    return model
