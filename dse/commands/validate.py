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
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import UserError
from .design import add_design_args

RESOURCES = ("lut", "ff", "dsp", "bram18")
#: the user attribute ``dse validate`` writes on a trial
VALIDATION_ATTR = "rtl_validation"


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
    ver.add_argument("--seed", type=int, default=0, help="operand seed (default 0)")
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
    from hwmodels.rtl.array import TOP, generate
    from hwmodels.rtl.sim import testbench

    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"-o: {out} exists and is not an empty directory; give a new directory")
    model, workload, point, spec = _resolve(args)
    files = {"array.v": generate(spec), "array_sim.v": generate(spec, sim=True), "tb.v": testbench(spec),
             "README.md": _readme(spec, workload, point, TOP)}
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"-o: the parent directory {parent} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"rtl: {spec.name} array ({spec.rows}x{spec.cols} {spec.dataflow}, {spec.unit}/{spec.kind} PEs) "
          f"written to {out}/ ({', '.join(files)})")
    return 0


def _readme(spec, workload, point, top: str) -> str:
    pack = (f"\n- Packed DSP lanes: {spec.pack} MACs per DSP slice, so {spec.pcols} PE columns compute the "
            f"{spec.cols} columns; each fold fills in R + {spec.pcols} - 2 cycles, as the model counts (SCALE-Sim's single-MAC array: R + {spec.cols} - 2)."
            if spec.pack > 1 else "")
    return f"""\
# {top}: {spec.rows} x {spec.cols} systolic array, dataflow {spec.dataflow}

Generated by `dse hw rtl` (hwmodels.rtl.array) for workload `{workload.name}`.

- PEs: `{spec.unit}`/`{spec.kind}` lanes, weights {spec.w_bits} bits (signed{' codes' if spec.unit == 'shift' else ''}),
  activations {spec.a_bits} bits unsigned, accumulators {spec.acc_bits} bits.{pack}
- Scratchpads: left edge {spec.depth('left')} x {spec.left_word} bits, top edge {spec.depth('top')} x
  {spec.top_word} bits, output {spec.depth('out')} x {spec.out_word} bits (simple dual port, block RAM).
- Device family: {spec.family}.

Files: `array.v` (synthesizable), `array_sim.v` (the same plus the `active`/`mon_*`
observation ports the testbench reads), `tb.v` (testbench: reads `cfg.hex`, `left.hex`,
`top.hex`; writes `result.txt`, `mon.hex`, `out.hex`).

Schedule (equal to the model's cycle count, SCALE-Sim 3.0.0 "Total Cycles"): every fold
{'shifts the stationary operand down the columns in R cycles, then ' if spec.dataflow != 'os' else ''}streams
T operand vectors into skewed edges and waits R + P - 2 cycles (P = {spec.pcols} PE columns) for the wavefront to leave.
Data layout in the scratchpads (word 0 = zeros): see `hwmodels.rtl.array.layout`.

Check it: `dse hw verify ...` (Verilator or Icarus Verilog), `dse hw synth ...` (Yosys).
Synthesize it yourself: `yosys -p "read_verilog array.v; synth_xilinx -family {spec.family} -top {top} -flatten{' -nodsp' if not spec.use_dsp else ''}"`.
"""


# --- dse hw verify -----------------------------------------------------------------------

def verify_point(model, workload, point, layers=None, seed: int = 0, max_cycles: int | None = None,
                 simulator: str | None = None) -> dict[str, Any]:
    """Run the verification; library errors become :class:`UserError`."""
    from hwmodels import Unsupported
    from hwmodels.rtl.sim import MAX_SIM_CYCLES, SimBoundError, SimError, find_simulator, verify_layers

    try:
        sim = find_simulator(simulator)
        spec, checks = verify_layers(model, workload, point, layers, seed=seed,
                                     max_cycles=max_cycles or MAX_SIM_CYCLES, simulator=sim)
    except (SimError, SimBoundError) as e:
        raise UserError(str(e)) from None
    except Unsupported as e:
        raise UserError(f"this point is not supported by the RTL generator: {e.reason}") from None
    rows = [c.to_dict() for c in checks]
    total = {"model_cycles": sum(c.model_cycles for c in checks),
             "simulated_cycles": sum(c.simulated_cycles for c in checks),
             "outputs_match": all(c.outputs_match for c in checks),
             "cycles_match": all(c.model_cycles == c.simulated_cycles for c in checks),
             "layers": len(checks)}
    notes = []
    if spec.pack > 1:
        notes.append(f"packed DSP lanes: {spec.pack} columns share one PE, so the array has {spec.pcols} PE columns "
                     f"and fills each fold in R + {spec.pcols} - 2 cycles, as the model counts (SCALE-Sim's "
                     f"{spec.cols}-column array of single-MAC PEs: R + {spec.cols} - 2)")
    return {"array": spec.name, "simulator": sim.version, "seed": seed, "layers": rows, "total": total,
            "notes": notes}


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

def rel_error(model: float, synth: float) -> float | None:
    """(model - synth) / synth; 0 when both are 0; None when only synthesis is 0."""
    if synth == 0:
        return 0.0 if model == 0 else None
    return (model - synth) / synth


def synth_point(model, workload, point, spec, timeout_s: float = 600.0) -> dict[str, Any]:
    from hwmodels.rtl.array import TOP, generate
    from hwmodels.rtl.synth import SynthError, synthesize

    report = model.evaluate(workload, point)
    try:
        res = synthesize(generate(spec), TOP, spec.family, use_dsp=spec.use_dsp, timeout_s=timeout_s)
    except SynthError as e:
        raise UserError(str(e)) from None
    m = {r: float(getattr(report.resources, r)) for r in RESOURCES}
    s = {r: int(getattr(res, r)) for r in RESOURCES}
    return {"array": spec.name, "family": spec.family, "tool": res.tool, "command": res.command,
            "rtl_sha256": res.rtl_sha256, "model": m, "synth": s,
            "error": {r: rel_error(m[r], s[r]) for r in RESOURCES}}


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
    p.add_argument("--storage", help="storage URL (default runs/dse.journal)")
    p.add_argument("--study", help="study name (may be omitted when the storage holds one study)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="Pareto points to validate (default 3)")
    p.add_argument("--seed", type=int, default=0, help="operand seed (default 0)")
    p.add_argument("--simulator", choices=("verilator", "iverilog"), help="default: verilator, else iverilog")
    p.add_argument("--max-cycles", type=int, default=None, metavar="N",
                   help="simulate layers of at most N model cycles; larger ones are listed as skipped "
                        "(default 2,000,000)")
    p.add_argument("--max-lanes", type=int, default=64, metavar="N",
                   help="synthesize arrays of at most N PEs; larger ones are listed as not synthesized "
                        "(default 64: Yosys time grows with the array)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_validate)


def validate_trial(model, workload, point, seed: int, max_cycles: int, max_lanes: int,
                   simulator) -> dict[str, Any]:
    """Verify (layers within the bound) and synthesize (arrays within ``max_lanes``) one
    design point; a point the generator does not build is recorded as unsupported."""
    import time

    from hwmodels import Unsupported
    from hwmodels.rtl.array import spec_for_point
    from hwmodels.rtl.sim import SimBoundError, check_bound, verify_layers

    out: dict[str, Any] = {"validated_unix": time.time()}
    try:
        spec = spec_for_point(model, workload, point)
        report = model.evaluate(workload, point)
    except Unsupported as e:
        out.update(status="unsupported", reason=e.reason)
        return out
    out.update(status="validated", array=spec.name)
    cycles = {c.name: c.compute_cycles for c in report.layers}
    run, skipped = [], []
    for layer in workload.layers:
        try:
            check_bound(spec, layer, cycles[layer.name], max_cycles)
            run.append(layer.name)
        except SimBoundError as e:
            skipped.append({"name": layer.name, "model_cycles": int(round(cycles[layer.name])), "reason": str(e)})
    verify: dict[str, Any] = {"simulator": simulator.version, "seed": seed, "bound_cycles": max_cycles,
                              "layers": [], "skipped": skipped}
    if run:
        try:
            _, checks = verify_layers(model, workload, point, run, seed=seed, max_cycles=max_cycles,
                                      simulator=simulator)
        except SimBoundError as e:   # a group GEMM that does not fit after all
            checks = []
            verify["skipped"].append({"name": "*", "reason": str(e)})
        verify["layers"] = [c.to_dict() for c in checks]
    ls = verify["layers"]
    verify["total"] = {"layers": len(ls), "cycles_match": all(l["model_cycles"] == l["simulated_cycles"] for l in ls),
                       "outputs_match": all(l["outputs_match"] for l in ls)}
    if spec.pack > 1:
        verify["notes"] = [f"packed DSP lanes: {spec.cols} columns on {spec.pcols} PE columns fill each fold in "
                           f"R + {spec.pcols} - 2 cycles, as the model counts (SCALE-Sim: R + {spec.cols} - 2)"]
    out["verify"] = verify
    if spec.rows * spec.cols > max_lanes:
        out["synth"] = {"skipped": f"{spec.rows} x {spec.cols} = {spec.rows * spec.cols} PEs exceed --max-lanes "
                                   f"{max_lanes}"}
    else:
        out["synth"] = synth_point(model, workload, point, spec)
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from hwmodels import DesignPoint
    from hwmodels.registry import get_model
    from hwmodels.rtl.sim import MAX_SIM_CYCLES, SimError, find_simulator
    from hwmodels.rtl.synth import SynthError, find_yosys

    from ..study import config_from_study, pareto_trials
    from ..workloads import get_workload_spec

    if args.top < 1:
        raise UserError("--top: must be a positive integer")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise UserError("--max-cycles: must be a positive integer")
    from ..study.storage import load_named_study

    study, _ = load_named_study(args.storage, args.study, "validate")
    cfg = config_from_study(study)
    if cfg.hardware.model != "systolic":
        raise UserError(f"study {study.study_name!r} uses hardware model {cfg.hardware.model!r}; RTL is generated "
                        "for the 'systolic' model only")
    try:
        sim = find_simulator(args.simulator)
        find_yosys()
    except (SimError, SynthError) as e:
        raise UserError(str(e)) from None
    front = pareto_trials(study)
    # the report's order: best first in the first objective
    first_max = study.directions[0].name == "MAXIMIZE"
    front.sort(key=lambda t: (-t.values[0] if first_max else t.values[0], t.number))
    front = front[:args.top]
    if not front:
        raise UserError(f"study {study.study_name!r} has no feasible complete trials on its Pareto front yet")
    model = get_model(cfg.hardware.model)
    workload = get_workload_spec(cfg.workload, **dict(cfg.workload_options))
    results: dict[str, Any] = dict(study.user_attrs.get(VALIDATION_ATTR) or {})
    new = {}
    for t in front:
        try:
            point = DesignPoint.from_dict(t.user_attrs["point"])
        except (KeyError, ValueError) as e:
            new[str(t.number)] = {"status": "unsupported", "reason": f"no usable design point recorded ({e})"}
            continue
        new[str(t.number)] = validate_trial(model, workload, point, args.seed, args.max_cycles or MAX_SIM_CYCLES,
                                            args.max_lanes, sim)
    results.update(new)
    study.set_user_attr(VALIDATION_ATTR, results)
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
