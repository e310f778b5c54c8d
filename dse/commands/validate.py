"""Generated RTL for a design point, checked against the model: ``dse hw rtl | verify |
synth`` and ``dse validate``.

    dse hw rtl    (--topology F | --workload W) --hwmodel systolic [-p k=v ...] -o DIR
    dse hw verify (--topology F | --workload W) --hwmodel systolic [-p k=v ...] [--layers A,B] [--json]
    dse hw synth  (--topology F | --workload W) --hwmodel systolic [-p k=v ...] [--json]
    dse validate  --storage S --study NAME [--top K]

``verify`` simulates the array of the point (:mod:`hwmodels.rtl.sim`) on seeded random
operands of each selected layer and compares the cycles with the model and the results
with an integer reference; exit 0 when every layer matches, 1 otherwise. ``synth``
synthesizes the same array with Yosys and prints model vs synthesis per resource.
``validate`` does both for the Pareto points of a study and stores the results on the
trials (user attribute ``rtl_validation``), which the report shows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..validation import RESOURCES, VALIDATION_ATTR, synth_point, validate_study, verify_point, write_rtl
from .design import add_design_args
from .options import add_seed, add_storage, add_study


# --- argument parsing ------------------------------------------------------------------

def register_hw(hsub: argparse._SubParsersAction) -> None:
    """Add ``rtl``, ``verify`` and ``synth`` to ``dse hw``."""
    rtl = hsub.add_parser("rtl", help="write the Verilog of a design point's array, a testbench and a README",
                          description="Generate synthesizable Verilog for the systolic array of a design point "
                          "(rows x cols, dataflow, PE arithmetic, widths from the schemes).")
    add_design_args(rtl)
    rtl.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to create (must not exist)")
    rtl.set_defaults(func=cmd_rtl)
    ver = hsub.add_parser("verify", help="simulate the generated array: cycles vs the model, outputs vs numpy",
                          description="Run the generated array in Verilator (or Icarus Verilog) on seeded random "
                          "operands of each layer; compare simulated cycles with the model and the results with an "
                          "integer GEMM. Exit 0 when every layer matches, 1 otherwise.")
    add_design_args(ver)
    ver.add_argument("--layers", metavar="A,B", help="comma-separated layer names (default: all)")
    add_seed(ver, help="operand seed")
    ver.add_argument("--max-cycles", type=int, default=None, metavar="N",
                     help="refuse layers whose model cycles exceed N (default 2,000,000)")
    ver.add_argument("--simulator", choices=("verilator", "iverilog"), help="default: verilator, else iverilog")
    ver.add_argument("--json", action="store_true", help="print JSON")
    ver.set_defaults(func=cmd_verify)
    syn = hsub.add_parser("synth", help="synthesize the generated array with Yosys: model vs synthesis",
                          description="Synthesize the generated array with Yosys synth_xilinx for the device's "
                          "family and print the model's LUT/FF/DSP/BRAM18 beside the synthesized counts.")
    add_design_args(syn)
    syn.add_argument("--timeout", type=float, default=600.0, metavar="S", help="Yosys time limit (default 600 s)")
    syn.add_argument("--json", action="store_true", help="print JSON")
    syn.set_defaults(func=cmd_synth)


# --- shared ------------------------------------------------------------------------------

def _resolve(args: argparse.Namespace):
    """(model, workload, point, spec) or UserError; nothing is written."""
    from hwmodels import Unsupported
    from hwmodels.rtl.array import spec_for_point

    from .design import design_point, hw_model, load_workload

    model = hw_model(args.hwmodel)
    if model.name != "systolic":
        raise UserError(f"--hwmodel: RTL is generated for the 'systolic' model only; got {model.name!r}")
    point = design_point(args, model)
    workload = load_workload(args)
    try:
        spec = spec_for_point(model, workload, point)
        model.evaluate(workload, point)
    except Unsupported as e:
        raise UserError(f"this point is not supported by the RTL generator: {e.reason}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    return model, workload, point, spec


# --- dse hw rtl --------------------------------------------------------------------------

def cmd_rtl(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"-o: {out} exists and is not an empty directory; give a new directory")
    model, workload, point, spec = _resolve(args)
    if not out.resolve().parent.is_dir():
        raise UserError(f"-o: the parent directory {out.resolve().parent} does not exist")
    files = write_rtl(out, spec, workload, point)
    print(f"rtl: {spec.name} array ({spec.rows}x{spec.cols} {spec.dataflow}, {spec.unit}/{spec.kind} PEs) "
          f"written to {out}/ ({', '.join(files)})")
    return 0


# --- dse hw verify -----------------------------------------------------------------------

def _layer_names(args: argparse.Namespace, workload) -> list[str] | None:
    if not args.layers:
        return None
    names = [n.strip() for n in args.layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in workload.layer_names]
    if unknown or not names:
        raise UserError(f"--layers: {', '.join(unknown) or 'no names given'} not in workload {workload.name!r}; "
                        f"layers: {', '.join(workload.layer_names)}")
    return names


def cmd_verify(args: argparse.Namespace) -> int:
    model, workload, point, spec = _resolve(args)
    names = _layer_names(args, workload)
    if args.max_cycles is not None and args.max_cycles < 1:
        raise UserError("--max-cycles: must be a positive integer")
    res = verify_point(model, workload, point, names, seed=args.seed, max_cycles=args.max_cycles,
                       simulator=args.simulator)
    ok = res["total"]["outputs_match"] and res["total"]["cycles_match"]
    if args.json:
        print(json.dumps(res, indent=2))
        return 0 if ok else 1
    print(f"verify: {res['array']} array, {res['simulator']}, seed {res['seed']}")
    print(f"{'layer':<24} {'model_cycles':>14} {'simulated':>14} {'outputs':>8}")
    for r in res["layers"]:
        print(f"{r['name'][:24]:<24} {r['model_cycles']:>14,} {r['simulated_cycles']:>14,} "
              f"{'match' if r['outputs_match'] else 'DIFFER':>8}")
    t = res["total"]
    print(f"{'total':<24} {t['model_cycles']:>14,} {t['simulated_cycles']:>14,} "
          f"{'match' if t['outputs_match'] else 'DIFFER':>8}")
    for note in res["notes"]:
        print(f"note: {note}")
    return 0 if ok else 1


# --- dse hw synth ------------------------------------------------------------------------

def cmd_synth(args: argparse.Namespace) -> int:
    from hwmodels.rtl.synth import SynthError, find_yosys

    model, workload, point, spec = _resolve(args)
    if args.timeout <= 0:
        raise UserError("--timeout: must be positive")
    try:
        find_yosys()
    except SynthError as e:
        raise UserError(str(e)) from None
    res = synth_point(model, workload, point, spec, args.timeout)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"synth: {res['array']} array, {res['tool']}, synth_xilinx -family {res['family']}")
    print(f"{'resource':<8} {'model':>10} {'synth':>10} {'error':>8}")
    for r in RESOURCES:
        e = res["error"][r]
        print(f"{r:<8} {res['model'][r]:>10,.0f} {res['synth'][r]:>10,} {'n/a' if e is None else f'{e:+.1%}':>8}")
    return 0


# --- dse validate ------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="verify and synthesize the Pareto points of a study (generated RTL)",
                       description="For the first K Pareto points of a study (as the report lists them): generate "
                       "the array RTL, simulate every layer within the simulation bound (cycles vs the model, "
                       "outputs vs an integer GEMM) and synthesize it with Yosys (model vs synthesis per "
                       f"resource). Results are stored in the study (user attribute '{VALIDATION_ATTR}', keyed by "
                       "trial number) and shown by 'dse report'.")
    add_storage(p)
    add_study(p, help="study name (may be omitted when the storage holds one study)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="Pareto points to validate (default 3)")
    add_seed(p, help="operand seed")
    p.add_argument("--simulator", choices=("verilator", "iverilog"), help="default: verilator, else iverilog")
    p.add_argument("--max-cycles", type=int, default=None, metavar="N",
                   help="simulate layers of at most N model cycles; larger ones are listed as skipped "
                        "(default 2,000,000)")
    p.add_argument("--max-lanes", type=int, default=64, metavar="N",
                   help="synthesize arrays of at most N PEs; larger ones are listed as not synthesized "
                        "(default 64: Yosys time grows with the array)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from ..study.storage import load_named_study

    if args.top < 1:
        raise UserError("--top: must be a positive integer")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise UserError("--max-cycles: must be a positive integer")
    study, _ = load_named_study(args.storage, args.study, "validate")
    new = validate_study(study, top=args.top, seed=args.seed, max_cycles=args.max_cycles, max_lanes=args.max_lanes,
                         simulator=args.simulator)
    if args.json:
        print(json.dumps({"study": study.study_name, "trials": new}, indent=2))
        return 0
    print(f"validate: study {study.study_name!r}, {len(new)} Pareto points "
          f"(stored in the study's '{VALIDATION_ATTR}' attribute)")
    for num, r in new.items():
        if r["status"] != "validated":
            print(f"  trial {num}: not validated: {r['reason']}")
            continue
        v = r["verify"]["total"]
        sk = len(r["verify"]["skipped"])
        print(f"  trial {num}: {r['array']}: {v['layers']} layers simulated"
              f"{f', {sk} over the bound' if sk else ''}: cycles {'match' if v['cycles_match'] else 'DIFFER'}, "
              f"outputs {'match' if v['outputs_match'] else 'DIFFER'}")
        s = r["synth"]
        if "skipped" in s:
            print(f"    synthesis skipped: {s['skipped']}")
            continue
        print("    " + ", ".join(f"{k} model {s['model'][k]:,.0f} / synth {s['synth'][k]:,} "
                                  f"({'n/a' if s['error'][k] is None else format(s['error'][k], '+.0%')})"
                                  for k in RESOURCES))
    return 0
