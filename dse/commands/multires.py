"""``dse multires WORKLOAD --budgets "a:k,..."``: train one multi-resolution term model, save
its checkpoint, and compare every resolution with a model trained at it alone."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from ..config import DEFAULT_MULTIRES_BUDGETS, MULTIRES_KIND, MultiresConfig
from .options import TORCH_DEVICE_HINT, add_cache_dir, add_epochs, add_lr, add_run_output, add_seed, add_setting, \
    add_torch_device, add_workload_arg, note, refuse_device
from .workload import add_option_argument, parse_options

DEFAULT_BUDGETS = ",".join(f"{a}:{k}" for a, k in DEFAULT_MULTIRES_BUDGETS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "multires", help="train one model serving many term budgets; compare with individual training",
        description="Multi-resolution term training (Zhang, McDanel, Kung & Dong, ASPLOS 2021): one model whose "
        "weight terms nest across budgets 'a:k' (a terms per activation, k terms per group of --group weights). "
        "Each step trains the largest budget as teacher and one other as student; BatchNorm is separate per "
        "budget. Saves one checkpoint and prints, per budget, the multi-resolution accuracy next to a model "
        "trained at that budget alone (the same epochs, optimizer and data order), term pairs per MAC and the "
        "termserial model's latency.")
    add_workload_arg(p)
    # the [multires] settings, declared once in dse.config
    add_setting(p, MultiresConfig, "budgets", default=DEFAULT_BUDGETS, metavar="A:K,...",
                help=f"comma-separated a:k budgets, two or more (default: the paper's {DEFAULT_BUDGETS})")
    add_setting(p, MultiresConfig, "group")
    add_setting(p, MultiresConfig, "w_bits")
    add_setting(p, MultiresConfig, "a_bits")
    add_setting(p, MultiresConfig, "encoding")
    add_setting(p, MultiresConfig, "first_last", default=MULTIRES_KIND,
                help="term (every layer multi-resolution, default) | fixed8 (first and last layers 8-bit "
                "fixed point, as in the paper)")
    add_epochs(p, MultiresConfig, help="training epochs of the multi-resolution model and of each individual "
               "model (default 10)")
    add_lr(p, MultiresConfig)
    add_setting(p, MultiresConfig, "distill_weight", help="weight w of the distillation term w T^2 KL, in [0, 10] "
                "(default 0.1)")
    add_setting(p, MultiresConfig, "temperature")
    add_seed(p)
    add_setting(p, MultiresConfig, "checkpoint", metavar="PATH",
                help="checkpoint file to write (or reuse when it matches); default: the cache")
    add_cache_dir(p, help="cache")
    p.add_argument("--rebuild", action="store_true", help="train again even when a matching checkpoint exists")
    p.add_argument("--no-individual", action="store_true",
                   help="skip the individually trained models (only the checkpoint is wanted)")
    add_torch_device(p)
    refuse_device(p, TORCH_DEVICE_HINT)
    add_run_output(p, json_help="print the rows as a JSON list of objects")
    add_option_argument(p)
    p.set_defaults(func=cmd_multires)


def _pct(x: Optional[float]) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def make_spec(args: argparse.Namespace) -> Any:
    """A MultiresSpec from the arguments; each mistake is a UserError naming the option."""
    from dataclasses import fields

    from ..config import parse_budgets
    from ..methods.multires import MultiresSpec, TermBudget

    budgets = parse_budgets(args.budgets, "--budgets")
    given = {}  # spec field -> (its option, value): the [multires] settings declaring the spec's fields
    for f in fields(MultiresSpec):
        section, _, key = (f.metadata["config"] or "").partition(".")
        if section == "multires" and key != "budgets":
            given[f.name] = (f"--{key.replace('_', '-')}", getattr(args, key))
    try:
        return MultiresSpec(budgets=tuple(TermBudget(a, k) for a, k in budgets),
                            **{k: v for k, (_, v) in given.items()})
    except ValueError as e:
        field, _, rest = str(e).partition(":")
        flag = given[field][0] if field in given else f"--{field.replace('_', '-')}"
        raise UserError(f"{flag}:{rest}") from None


def cmd_multires(args: argparse.Namespace) -> int:
    from ..methods.multires import (checkpoint_path, comparison_rows, resolution_costs, train_individual,
                                    train_multires)
    from ..workloads import get_workload

    from .train import check_run_options

    check_run_options(args)
    spec = make_spec(args)
    if args.checkpoint is not None:
        from .search import check_output_file

        check_output_file(args.checkpoint, "--checkpoint")
    bundle = get_workload(args.workload, **parse_options(args.option))
    if not bundle.has_data:
        raise UserError(f"workload {bundle.name!r} is shape-only (no data): nothing to train")
    costs = resolution_costs(bundle.spec, spec)
    target = args.checkpoint or checkpoint_path(bundle, spec, args.seed, args.cache_dir)
    if args.rebuild or not Path(target).expanduser().exists():
        note(args, f"training {bundle.name} at {len(spec.budgets)} resolutions ({spec.epochs} epochs, "
                    f"teacher {spec.budgets[spec.teacher]}) ...")
    ckpt = train_multires(bundle, spec, args.seed, cache_dir=args.cache_dir, path=args.checkpoint,
                          device=args.torch_device, progress=not args.quiet, rebuild=args.rebuild, threads=args.threads)
    if ckpt.note:
        note(args, ckpt.note)
    individual: list[Optional[Any]] = [None] * len(spec.budgets)
    individual_s = 0.0
    if not args.no_individual:
        for i, b in enumerate(spec.budgets):
            note(args, f"training budget {b} alone ({i + 1}/{len(spec.budgets)}) ...")
            t0 = time.perf_counter()
            individual[i] = train_individual(bundle, spec, i, args.seed, cache_dir=args.cache_dir,
                                             device=args.torch_device, progress=not args.quiet, threads=args.threads)
            individual_s += time.perf_counter() - t0
    rows = comparison_rows(spec, ckpt, costs, individual)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ["budget", "terms/w", "pairs/MAC", "latency", "multires", "individual", "delta"]
    body = [[r["budget"] + (" (teacher)" if i == spec.teacher else ""), f"{r['weight_terms_per_value']:.3g}",
             f"{r['term_pairs_per_mac']:.3g}", f"{r['latency_s'] * 1e6:.1f} us", _pct(r["multires_accuracy"]),
             _pct(r["individual_accuracy"]),
             "-" if r["delta"] is None else f"{100 * r['delta']:+.2f}"] for i, r in enumerate(rows)]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    print(f"{bundle.name}: {len(rows)} resolutions, group {spec.group_size}, {spec.w_bits}-bit weight grid "
          f"({spec.encoding}), {spec.a_bits}-bit activations, first/last {spec.first_last}; FP32 "
          f"{_pct(ckpt.float_accuracy)}")
    for line in [head, [("-" * w) for w in widths]] + body:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    how = "from cache" if ckpt.from_cache else f"trained in {ckpt.time_s:.1f} s"
    print(f"checkpoint: {ckpt.path} ({how}; {spec.epochs} epochs, {ckpt.steps} steps)")
    if not args.no_individual:
        within = sum(1 for r in rows if r["delta"] is not None and r["delta"] >= -0.01 - 1e-9)
        print(f"within 1% of individual training: {within} of {len(rows)} resolutions; individual models "
              f"{individual_s:.1f} s in all" + (f", multires/individual time {ckpt.time_s / individual_s:.2f}"
                                               if not ckpt.from_cache and individual_s > 0 else ""))
    return 0
