"""``dse train WORKLOAD`` (FP32 pre-training, cached) and ``dse finetune WORKLOAD --plan
PLAN.json`` (one quantization-aware fine-tune)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..config import FinetuneBudget, FinetuneConfig, StudyConfig
from ..errors import UserError
from .options import (TORCH_DEVICE_HINT, add_cache_dir, add_epochs, add_lr, add_run_output, add_seed, add_setting,
                      add_torch_device, add_workload_arg, check_setting, note, refuse_device)
from .workload import add_option_argument, parse_options


def _common(p: argparse.ArgumentParser) -> None:
    add_workload_arg(p)
    add_seed(p)
    add_cache_dir(p)
    add_torch_device(p)
    refuse_device(p, TORCH_DEVICE_HINT)
    add_run_output(p)
    add_option_argument(p)


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="pre-train a workload in FP32 (or report the cached model)",
                       description="Pre-train WORKLOAD in FP32 once per seed and epoch count; the weights are "
                       "cached and every fine-tune starts from them.")
    _common(t)
    add_epochs(t, default=None, help="pre-training epochs (default: the workload's)")
    t.add_argument("--rebuild", action="store_true", help="train again even when a cached model exists")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("finetune", help="fine-tune one quantization plan and print its accuracy",
                       description="Quantization-aware fine-tune of WORKLOAD's FP32 model with a plan: the "
                       'JSON a search exports, {"layers": {NAME: {"kind": "fixed", "w_bits": 4, ...}}, '
                       '"hardware": {...}} (layers not named stay FP32), or one --scheme for every layer.')
    _common(f)
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--plan", metavar="PLAN.json", help="plan file (layer name -> scheme fields)")
    src.add_argument("--scheme", metavar="SPEC",
                     help="one scheme for every compute layer, e.g. fixed:4 or 'fixed:4,a_bits=4'")
    span = f.add_mutually_exclusive_group()
    # the [finetune] settings, declared once in dse.config (None: not given, FinetuneBudget's default applies)
    add_epochs(span, default=None, default_text="2")
    add_setting(span, FinetuneBudget, "steps", default=None)
    add_lr(f, default=None, default_text="1e-3")
    for name, shown in (("optimizer", "adam"), ("weight_decay", "0"), ("batch_size", None), ("schedule", "cosine")):
        add_setting(f, FinetuneBudget, name, default=None, default_text=shown)
    add_setting(f, FinetuneConfig, "pretrain_epochs", default=None)
    f.add_argument("--qonnx", metavar="OUT.onnx", help="write the fine-tuned quantized network as QONNX "
                   "(FINN, hls4ml; needs the 'qonnx' extra; docs/integration.md)")
    f.set_defaults(func=cmd_finetune)


def check_run_options(args: argparse.Namespace, device_attr: str = "torch_device",
                      device_flag: str = "--torch-device") -> None:
    """Options shared by the training commands, checked before any work or output:
    --seed, --threads, --cache-dir, the torch device."""
    seed = getattr(args, "seed", None)
    if seed is not None:
        check_setting(seed, StudyConfig, "seed", "--seed")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 0:
        raise UserError(f"--threads: must be >= 0, got {threads}")
    cache = getattr(args, "cache_dir", None)
    if cache is not None:
        p = Path(cache).expanduser()
        if not str(cache).strip():
            raise UserError("--cache-dir: must not be empty")
        if p.exists() and not p.is_dir():
            raise UserError(f"--cache-dir: {cache} is a file; give a directory")
    device = getattr(args, device_attr, None)
    if device is not None:
        from ..training import resolve_device

        try:
            resolve_device(device)
        except UserError as e:
            raise UserError(f"{device_flag}: {str(e).split(': ', 1)[-1]}") from None


def _bundle(args: argparse.Namespace):
    from ..workloads import get_workload

    return get_workload(args.workload, **parse_options(args.option))


def _threads(args: argparse.Namespace) -> int:
    if args.threads < 0:
        raise UserError(f"--threads: must be >= 0, got {args.threads}")
    return args.threads


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def cmd_train(args: argparse.Namespace) -> int:
    from ..training import cache_path, pretrain

    check_run_options(args)
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs: pre-training needs at least 1 epoch, got {args.epochs}")
    bundle = _bundle(args)
    if not bundle.has_data:
        raise UserError(f"workload {bundle.name!r} is shape-only (no data): nothing to train; "
                        "it serves hardware-only studies")
    path = cache_path(bundle, args.seed, args.epochs, args.cache_dir)
    if args.rebuild or not path.exists():
        note(args, f"pre-training {bundle.name} (seed {args.seed}, "
                    f"{args.epochs or bundle.pretrain_epochs} epochs) ...")
    pre = pretrain(bundle, args.seed, args.epochs, cache_dir=args.cache_dir, device=args.torch_device,
                   progress=not args.quiet, rebuild=args.rebuild, threads=_threads(args))
    if pre.note:
        note(args, pre.note)
    if args.json:
        print(json.dumps({"workload": pre.workload, "seed": pre.seed, "epochs": pre.epochs,
                          "float_accuracy": pre.float_accuracy, "path": pre.path, "from_cache": pre.from_cache,
                          "time_s": pre.time_s, "history": list(pre.history)}, indent=2))
        return 0
    how = f"from cache {pre.path}" if pre.from_cache else f"trained in {pre.time_s:.1f} s, cached at {pre.path}"
    print(f"{pre.workload}: FP32 validation accuracy {_pct(pre.float_accuracy)} "
          f"(seed {pre.seed}, {pre.epochs} epochs); {how}")
    return 0


def load_plan_file(path: str) -> Any:
    """The plan JSON at ``path`` as a DesignPoint; UserError (one line) when missing or bad."""
    from hwmodels.base import DesignPoint

    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise UserError(f"--plan: file {path} not found") from None
    except OSError as e:
        raise UserError(f"--plan: cannot read {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"--plan: {path} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict) or "layers" not in data:
        raise UserError(f'--plan: {path} must be a JSON object {{"layers": {{NAME: {{scheme fields}}}}, '
                        '"hardware": {...}}, as a search exports')
    try:
        return DesignPoint.from_dict(data)
    except ValueError as e:
        raise UserError(f"--plan {path}: {e}") from None


def cmd_finetune(args: argparse.Namespace) -> int:
    from hwmodels.formats import QuantScheme

    from ..quant import PlanError
    from ..training import FinetuneBudget, cache_path, check_plan, finetune, uniform_plan

    check_run_options(args)
    if args.pretrain_epochs is not None and args.pretrain_epochs < 1:
        raise UserError(f"--pretrain-epochs: needs at least 1 epoch, got {args.pretrain_epochs}")
    bundle = _bundle(args)
    if args.plan:
        plan = load_plan_file(args.plan)
    else:
        try:
            scheme = QuantScheme.parse(args.scheme)
        except ValueError as e:
            raise UserError(f"--scheme: {e}") from None
        plan = uniform_plan(bundle, scheme)
    given = {"epochs": args.epochs, "steps": args.steps, "lr": args.lr, "optimizer": args.optimizer,
             "weight_decay": args.weight_decay, "batch_size": args.batch_size, "schedule": args.schedule}
    try:
        budget = FinetuneBudget(**{k: v for k, v in given.items() if v is not None})
    except ValueError as e:
        field, _, rest = str(e).partition(":")
        raise UserError(f"--{field.replace('_', '-')}:{rest}") from None
    try:
        check_plan(bundle, plan)  # before any pre-training
    except PlanError as e:
        raise UserError(f"--plan: {e}" if args.plan else f"--scheme: {e}") from None
    if args.pretrain_epochs is not None and args.pretrain_epochs < 1:
        raise UserError(f"--pretrain-epochs: needs at least 1 epoch, got {args.pretrain_epochs}")
    qonnx_path = None
    if args.qonnx:
        from ..export.qonnx import ExportError, check_target

        try:
            qonnx_path = check_target(args.qonnx)
        except ExportError as e:
            raise UserError(str(e)) from None
        if not plan.schemes:
            raise UserError("--qonnx: the plan quantizes no layer; nothing to export")
    kept: list = []
    if bundle.has_data and not cache_path(bundle, args.seed, args.pretrain_epochs, args.cache_dir).exists():
        note(args, f"pre-training {bundle.name} first (seed {args.seed}, "
                    f"{args.pretrain_epochs or bundle.pretrain_epochs} epochs; cached for later runs) ...")
    try:
        result = finetune(bundle, plan, budget, seed=args.seed, device=args.torch_device, progress=not args.quiet,
                          cache_dir=args.cache_dir, pretrain_epochs=args.pretrain_epochs, threads=_threads(args),
                          on_model=kept.append if qonnx_path else None)
    except PlanError as e:
        raise UserError(f"--plan: {e}" if args.plan else f"--scheme: {e}") from None
    if args.json:
        print(json.dumps({"workload": bundle.name, "seed": args.seed, "budget": budget.to_dict(),
                          "layers_quantized": len(plan.schemes), **result.to_dict()}, indent=2))
    else:
        span = f"{result.epochs_run} epoch{'s' if result.epochs_run != 1 else ''}, {result.steps} steps"
        print(f"{bundle.name}: accuracy {_pct(result.accuracy)} (FP32 {_pct(result.float_accuracy)}); "
              f"{len(plan.schemes)} layers quantized; {span}; {result.time_s:.2f} s")
        if result.aborted:
            print(f"stopped: {result.reason}")
    if qonnx_path is not None and kept:
        _write_qonnx(kept[0], bundle, plan, qonnx_path, args)
    if qonnx_path is not None and not kept:
        print(f"--qonnx: the fine-tune diverged; {args.qonnx} not written", file=sys.stderr)
    return 1 if result.diverged else 0


def _write_qonnx(model: Any, bundle: Any, plan: Any, path: Path, args: argparse.Namespace) -> None:
    from ..export.qonnx import ExportError, export_qonnx

    x = bundle.example_input
    x = x[:1] if hasattr(x, "ndim") and x.ndim > 0 else x
    meta = {"workload": bundle.name, "weights": f"fine-tuned (dse finetune, seed {args.seed})",
            "plan": json.dumps(plan.to_dict(), sort_keys=True)}
    try:
        summary = export_qonnx(model.cpu().eval(), x, path, name=bundle.name.replace(":", "_").replace(".", "_"),
                               metadata=meta)
    except ExportError as e:
        raise UserError(f"--qonnx: {e}") from None
    note(args, f"QONNX -> {summary.path} ({len(summary.layers)} quantized layers, {summary.quant_nodes} Quant + "
                f"{summary.threshold_nodes} MultiThreshold nodes)")
