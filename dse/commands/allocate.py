"""``dse allocate WORKLOAD --metric size|macbits --target BITS``: learn per-filter (or
per-layer) bit widths with a penalty on model size or on MACs x bits, export the plan,
evaluate it like a searched point and (with --storage/--study) record it as a trial."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..errors import UserError
from ..methods.allocate.spec import AllocationSpec
from .options import FPGA_HINT, add_cache_dir, add_epochs, add_fpga, add_lr, add_run_output, add_seed, add_setting, \
    add_storage, add_study, add_torch_device, add_workload_arg, check_fpga, note, refuse_device
from .workload import add_option_argument, parse_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "allocate", help="learn per-filter bit widths under a size or MACs x bits budget",
        description="Learned mixed-precision bit allocation (Uhlich et al., ICLR 2020, case U3): each filter (or "
        "layer) gets a uniform quantizer with a learned step size d and range q_max; its width is "
        "ceil(log2(q_max/d + 1)) + 1, clipped to [--bits-min, --bits-max]. Training adds "
        "lambda * relu(cost - target) to the cross-entropy, cost being the average weight bits per weight "
        "(--metric size) or per MAC (--metric macbits: sum over filters of MACs x bits / MACs, which a "
        "bit-serial accelerator's latency follows). The plan (fixed point, per-filter widths) is then "
        "fine-tuned from the FP32 model exactly like a searched point, priced on the bit-serial model and, "
        "with --storage and --study, recorded as a trial of that study (created when absent).")
    add_workload_arg(p)
    # the AllocationSpec settings, declared once in dse/methods/allocate/spec.py
    add_setting(p, AllocationSpec, "metric", required=True, default=None, choices=True)
    add_setting(p, AllocationSpec, "target", required=True, default=None, metavar="BITS")
    add_epochs(p, AllocationSpec)
    for name in ("bits_min", "bits_max", "a_bits", "array_rows"):
        add_setting(p, AllocationSpec, name)
    add_setting(p, AllocationSpec, "granularity", choices=True)
    add_setting(p, AllocationSpec, "penalty")
    add_lr(p, AllocationSpec)
    add_setting(p, AllocationSpec, "quant_lr")
    add_setting(p, AllocationSpec, "first_last", choices=True)
    p.add_argument("--finetune-epochs", type=int, default=2,
                   help="fine-tune epochs of the evaluation, as a search trial (default 2; an existing "
                   "study's own budget applies)")
    add_fpga(p, help="FPGA part of the bit-serial model (default: the model's; see 'dse hw list')")
    refuse_device(p, FPGA_HINT)
    add_storage(p, help="storage URL of the study to record the run in (with --study)")
    add_study(p, help="study name (created when absent: objectives accuracy + latency_s on the bit-serial model)")
    p.add_argument("--plan-out", metavar="PLAN.json", help="write the plan (dse finetune --plan reads it)")
    add_seed(p, help="random seed (an existing study's applies)")
    add_cache_dir(p)
    add_torch_device(p, "--train-device")
    add_run_output(p, json_help="print {accuracy, avg_weight_bits, mac_bits, latency_s, ...} as JSON")
    add_option_argument(p)
    p.set_defaults(func=cmd_allocate)


#: the AllocationSpec fields given as options (the rest keep the spec's defaults)
SPEC_OPTIONS = ("metric", "target", "granularity", "bits_min", "bits_max", "a_bits", "epochs", "lr", "quant_lr",
                "penalty", "first_last", "array_rows")


def spec_from_args(args: argparse.Namespace):
    """An AllocationSpec; each mistake a UserError naming the option."""
    given = {name: getattr(args, name) for name in SPEC_OPTIONS}
    try:
        return AllocationSpec(**given)
    except ValueError as e:
        field, _, rest = str(e).partition(":")
        raise UserError(f"--{field.replace('_', '-')}:{rest}") from None


def cmd_allocate(args: argparse.Namespace) -> int:
    from ..methods.allocate import run_allocation

    spec = spec_from_args(args)
    if args.finetune_epochs < 0:
        raise UserError(f"--finetune-epochs: must be >= 0, got {args.finetune_epochs}")
    from .train import check_run_options

    check_run_options(args)
    check_fpga(args.fpga)
    if (args.storage is None) != (args.study is None):
        raise UserError("--storage/--study: give both to record the run in a study, or neither")
    if args.study is not None and not args.study.strip():
        raise UserError("--study: must not be empty")
    if args.storage is not None:
        from ..study.storage import check_storage

        check_storage(args.storage)
    if args.plan_out is not None:
        from .search import check_output_file

        check_output_file(args.plan_out, "--plan-out")
    try:
        from ..methods.allocate import check_target
        from ..workloads import get_workload

        low, high = check_target(get_workload(args.workload, **parse_options(args.option)), spec)
    except ValueError as e:
        raise UserError(f"--{e}") from None
    if spec.target > high + 1e-9:
        raise UserError(f"--target: {spec.target:g} average bits is above the largest reachable {high:.4g} (every "
                        f"learned filter at --bits-max = {spec.bits_max}), so the penalty would never act; give a "
                        f"target in [{low:.4g}, {high:.4g}]")
    note(args, f"allocating {args.workload}: {spec.metric} <= {spec.target:g} average bits, widths "
                f"{spec.bits_min}..{spec.bits_max} per {spec.granularity}, {spec.epochs} epochs ...")
    try:
        run = run_allocation(args.workload, spec, args.seed, storage=args.storage, study=args.study,
                             device=args.fpga, finetune_epochs=args.finetune_epochs,
                             workload_options=parse_options(args.option), train_device=args.torch_device,
                             cache_dir=args.cache_dir, threads=args.threads, progress=not args.quiet)
    except ValueError as e:
        field, _, rest = str(e).partition(":")
        raise UserError(f"--{field.replace('_', '-')}:{rest}" if field == "target" else str(e)) from None
    if args.plan_out:
        out = Path(args.plan_out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(run.point.to_json() + "\n")
    res = run.result()
    alloc = run.allocation
    ev = run.evaluation
    if args.json:
        print(json.dumps({**res, "cost": alloc.cost, "target": spec.target, "metric": spec.metric,
                          "target_met": alloc.target_met, "status": ev.status, "reason": ev.reason or None,
                          "allocator_accuracy": alloc.allocator_accuracy, "float_accuracy": alloc.float_accuracy,
                          "layer_mean_bits": alloc.summary()["layer_mean_bits"], "study": run.study,
                          "trial": run.trial, "plan": run.point.to_dict()}, indent=2))
        return 0
    acc = res["accuracy"]
    print(f"{args.workload}: {spec.metric} regularised to {spec.target:g} bits -> cost {alloc.cost:.3f}"
          + ("" if alloc.target_met else " (target not met: more --epochs or a larger --penalty)"))
    print(f"  accuracy         {'-' if math.isnan(acc) else f'{100 * acc:.2f}%'} (after the search's fine-tune; "
          f"FP32 {100 * alloc.float_accuracy:.2f}%)")
    print(f"  avg weight bits  {res['avg_weight_bits']:.3f}")
    print(f"  MACs x bits      {res['mac_bits']:.4g}")
    print(f"  latency          {res['latency_s'] * 1e6:.2f} us (bitserial, {run.bitserial.get('device', '')})")
    for name, bits in alloc.summary()["layer_mean_bits"].items():
        print(f"    {name:<20} {bits:.2f} bits")
    if ev.status != "complete":
        print(f"  status {ev.status}: {ev.reason}")
    if run.trial is not None:
        print(f"recorded as trial #{run.trial} of study {run.study!r}"
              + (" (new study)" if run.created else ""))
    if args.plan_out:
        print(f"plan: {args.plan_out}")
    return 0
