"""A study's trial as a QONNX file: the tool's own fake-quantized model of its plan
(:func:`plan_model`) written by :func:`dse.export.qonnx.export_qonnx` (:func:`export_trial`)."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

import torch
from torch import nn

from .grids import ExportError
from .writer import ExportSummary, check_target, export_qonnx


def plan_model(bundle: Any, plan: Any, seed: int = 0, pretrain_epochs: Optional[int] = None,
               cache_dir: Any = None) -> tuple[nn.Module, str]:
    """The tool's own fake-quantized model of ``plan`` on ``bundle`` before fine-tuning:
    the cached FP32 weights (pre-trained first when not cached), quantized with the plan
    and calibrated on the first training batch, exactly as a fine-tune starts. A
    shape-only workload (no data) gets its seeded initial weights, calibrated on its
    example input (seeded random values when that is all zeros). Returns (model in eval mode, a note on where the weights came from)."""
    from ...quant import quantize_model
    from ...training import calibrate_activations, check_plan, pretrain, seeded

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

    from ...errors import UserError
    from ...quant import PlanError
    from ...record import TrialRecord
    from ...study import config_from_study, feasible
    from ...workloads import get_workload

    try:
        target = check_target(path)
    except ExportError as e:
        raise UserError(str(e)) from None
    trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not trials:
        raise UserError(f"--trial: study {study.study_name!r} has no trial {number}")
    t = trials[0]
    rec = TrialRecord.of(t)
    status = rec.status if rec.status is not None else t.state.name.lower()
    if t.state != TrialState.COMPLETE:
        why = f": {rec.reason}" if rec.reason else ""
        raise UserError(f"--trial: trial {number} is {status} (state {t.state.name}){why}; export a complete, "
                        "feasible trial (see 'dse export --study S -o pareto.csv')")
    if not feasible(t):
        bad = ", ".join(k for k, v in sorted(t.constraints.items()) if v > 0)
        raise UserError(f"--trial: trial {number} is infeasible (violates {bad}); export a feasible trial")
    point = rec.point
    if not point or not point.get("layers"):
        raise UserError(f"--trial: trial {number} has no quantized layers in its design point; nothing to export")
    cfg = config_from_study(study)
    bundle = get_workload(cfg.workload, **dict(cfg.workload_options))
    if not bundle.has_model:
        raise UserError(f"--qonnx: workload {cfg.workload!r} is layers-only (no torch model), so it has no graph "
                        "to export; export the plan instead (--plan-out)")
    from ...training import cache_path, check_plan

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

