"""``dse msq WORKLOAD --fpga XC7Z020 [--bits 4]``: row-wise mixed SP2/fixed quantization with
the SP2 fraction that balances the device's LUT and DSP arrays; accuracy of all-fixed,
all-SP2 and mixed after the same fine-tune, and modelled throughput against DSP-only."""

from __future__ import annotations

import argparse
import json
import math

from ..errors import UserError
from .options import FPGA_HINT, add_cache_dir, add_epochs, add_fpga, add_lr, add_run_output, add_seed, \
    add_torch_device, add_workload_arg, check_fpga, note, refuse_device
from .workload import add_option_argument, parse_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "msq", help="row-wise SP2 + fixed (Mix and Match) at the device's balanced SP2 fraction",
        description="Mixed-scheme quantization (Chang et al., HPCA 2021): rows with bell-shaped weights (high "
        "excess kurtosis) in SP2 on LUT shift-add lanes, the rest in fixed point on DSP slices. The SP2 fraction "
        "is the one that balances the two arrays sized for --fpga (hwmodels.hetero.balanced_split). Prints "
        "the accuracy of all-fixed, all-SP2 and mixed plans after the same fine-tune, and the modelled "
        "throughput of the mixed design (hetero model) against the DSP-only design (systolic model, every DSP "
        "slice) on the same device.")
    add_workload_arg(p)
    add_fpga(p, default="XC7Z020")
    refuse_device(p, FPGA_HINT)
    p.add_argument("--bits", type=int, default=4, help="weight bits of every layer, sign included (default 4)")
    p.add_argument("--a-bits", type=int, help="activation bits (default: --bits)")
    p.add_argument("--rows", type=int, help="array rows of both designs (default: each design's best of "
                   "4, 8, 16, 32, 64)")
    add_epochs(p, help="fine-tune epochs of each plan (default 2)")
    add_lr(p, help="fine-tune learning rate (default 1e-3)")
    add_seed(p)
    p.add_argument("--hw-only", action="store_true", help="price the designs only (no fine-tunes)")
    add_cache_dir(p)
    add_torch_device(p, "--train-device")
    add_run_output(p, json_help="print the result as a JSON object")
    add_option_argument(p)
    p.set_defaults(func=cmd_msq)


def _check(args: argparse.Namespace) -> None:
    from hwmodels.formats import MAX_BITS, MIN_BITS

    check_fpga(args.fpga)
    for flag, v in (("--bits", args.bits), ("--a-bits", args.a_bits)):
        if v is not None and not MIN_BITS <= v <= MAX_BITS:
            raise UserError(f"{flag}: must be in [{MIN_BITS}, {MAX_BITS}], got {v}")
    if args.rows is not None and args.rows < 1:
        raise UserError(f"--rows: must be >= 1, got {args.rows}")
    if args.epochs < 0:
        raise UserError(f"--epochs: must be >= 0, got {args.epochs}")
    if args.threads < 0:
        raise UserError(f"--threads: must be >= 0, got {args.threads}")


def cmd_msq(args: argparse.Namespace) -> int:
    from ..methods.msq import FIXED, SP2, compare, hardware_comparison
    from ..workloads import get_workload

    from .train import check_run_options

    _check(args)
    check_run_options(args)
    bundle = get_workload(args.workload, **parse_options(args.option))
    a_bits = args.bits if args.a_bits is None else args.a_bits
    if args.hw_only:
        out = hardware_comparison(bundle.spec, args.fpga, args.bits, a_bits, args.rows, name=bundle.name)
    else:
        if not bundle.has_data:
            raise UserError(f"workload {bundle.name!r} is shape-only (no data): use --hw-only")
        note(args, f"fine-tuning {bundle.name} at {args.bits} bits: all-fixed, all-SP2, mixed ...")
        out = compare(bundle, args.fpga, args.bits, a_bits, args.epochs, args.seed, args.rows, lr=args.lr,
                      train_device=args.torch_device, cache_dir=args.cache_dir, threads=args.threads,
                      progress=not args.quiet).to_dict()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['workload']} on {out['device']}, W{out['w_bits']}A{out['a_bits']}: SP2 fraction "
          f"{out['sp2_fraction']:.3f} (balanced: {out['mixed']['sp2_cols']} SP2 + {out['mixed']['fixed_cols']} "
          f"fixed columns x {out['mixed']['rows']} rows)")
    if out["accuracy"] is not None:
        acc = out["accuracy"]

        def pct(x: float) -> str:
            return "-" if x is None or math.isnan(x) else f"{100 * x:.2f}%"

        print(f"  accuracy  all-fixed {pct(acc[FIXED])}  all-SP2 {pct(acc[SP2])}  mixed {pct(acc['mixed'])}  "
              f"(FP32 {pct(out['float_accuracy'])}; {out['epochs']} fine-tune epochs each)")
    m, d = out["mixed"], out["dsp_only"]
    print(f"  mixed (hetero)     {m['latency_s'] * 1e6:9.2f} us  {m['throughput_per_s']:10.0f} inf/s"
          + ("" if m["fits"] else "  (does not fit)"))
    print(f"  DSP-only (systolic) {d['latency_s'] * 1e6:8.2f} us  {d['throughput_per_s']:10.0f} inf/s  "
          f"({d['rows']} x {d['cols']})" + ("" if d["fits"] else "  (does not fit)"))
    print(f"  speed-up mixed / DSP-only: {out['speedup']:.2f}x")
    return 0
