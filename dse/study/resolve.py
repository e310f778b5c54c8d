"""A study's config resolved into its parts: hardware model, workload, search space, data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwmodels import HardwareModel, Workload
from search_spaces import HardwarePiece, SearchSpace, default_quant_pieces

from ..config import StudyConfig
from ..errors import UserError


@dataclass
class Resolved:
    """A validated config with its parts built."""

    cfg: StudyConfig
    model: HardwareModel
    workload: Workload
    space: SearchSpace
    bundle: Any = None  # dse.workloads.WorkloadBundle when training is needed


def resolve(cfg: StudyConfig) -> Resolved:
    """Build the hardware model, workload and search space; every bad name -> UserError."""
    from hwmodels.registry import get_model, list_models

    try:
        model = get_model(cfg.hardware.model)
    except (KeyError, ValueError):
        raise UserError(f"hardware.model: unknown model {cfg.hardware.model!r}; allowed: "
                        f"{', '.join(list_models())}") from None
    knobs = {k.name: k for k in model.knobs()}
    fixed = dict(cfg.hardware.fixed)
    if cfg.hardware.device is not None:
        if "device" not in knobs:
            raise UserError(f"hardware.device: model {model.name!r} has no device knob")
        fixed["device"] = cfg.hardware.device
    for name, value in fixed.items():
        if name not in knobs:
            raise UserError(f"hardware.fixed.{name}: unknown knob of {model.name!r}; knobs: {', '.join(knobs)}")
        try:
            fixed[name] = knobs[name].validate(value)
        except ValueError as e:
            where = "hardware.device" if name == "device" and cfg.hardware.device is not None else f"hardware.fixed.{name}"
            raise UserError(f"{where}: {str(e).split(': ', 1)[-1]}") from None
    for name, rng in cfg.hardware.ranges.items():
        if name not in knobs:
            raise UserError(f"hardware.ranges.{name}: unknown knob of {model.name!r}; knobs: {', '.join(knobs)}")
        if not isinstance(rng, list) or not rng:
            raise UserError(f"hardware.ranges.{name}: expected a list of choices or [low, high]")
        knob = knobs[name]
        try:
            if knob.kind == "categorical" or len(rng) != 2:
                [knob.validate(v) for v in rng]
            else:
                if knob.validate(rng[0]) > knob.validate(rng[1]):
                    raise ValueError(f"{name}: low {rng[0]} > high {rng[1]}")
        except ValueError as e:
            raise UserError(f"hardware.ranges.{e}") from None
    for name in cfg.hardware.search or ():
        if name not in knobs:
            raise UserError(f"hardware.search: unknown knob {name!r} of {model.name!r}; knobs: {', '.join(knobs)}")
    from ..workloads import get_workload, get_workload_spec

    bundle = None
    if cfg.needs_training and cfg.fidelity != "none":
        bundle = get_workload(cfg.workload, **dict(cfg.workload_options))
        if not bundle.has_data:
            raise UserError(f"workload.name: {cfg.workload!r} is shape-only (no data), so it cannot score "
                            "accuracy; use hardware objectives only with study.fidelity = 'none'")
        workload = bundle.spec
    else:
        workload = get_workload_spec(cfg.workload, **dict(cfg.workload_options))
    sp = cfg.space
    pieces = default_quant_pieces(
        sp.kinds, w_bits=sp.w_bits, a_bits=sp.a_bits, granularity=sp.granularity, shared=sp.shared,
        first_last=sp.first_last, terms_per_value=sp.terms_per_value, group_sizes=sp.group_sizes,
        encodings=sp.term_encodings, a_term_budgets=sp.a_term_budgets, sp2_fractions=sp.sp2_fractions)
    pieces.append(HardwarePiece(model, fixed=fixed, ranges=dict(cfg.hardware.ranges), search=cfg.hardware.search))
    return Resolved(cfg, model, workload, SearchSpace(pieces), bundle)
