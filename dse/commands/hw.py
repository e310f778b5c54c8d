"""``dse hw``: list the hardware models and price a workload on one of them.

    dse hw list [--json]
    dse hw eval (--topology FILE | --workload NAME) --hwmodel NAME
                [-p knob=value ...] [--scheme KIND:BITS[,key=value...]] [--plan FILE] [--json]

``--topology`` takes a SCALE-Sim topology CSV (conv or GEMM format, unchanged);
``--workload`` a workload name from ``dse.workloads``. ``--scheme`` applies one number
format to every layer (default ``fixed:8``); ``--plan`` a plan JSON
(``{"layers": {name: scheme}, "hardware": {knob: value}}``), whose layers override
``--scheme`` and whose hardware knobs ``-p`` overrides.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UserError
from .design import design_point, hw_model, load_workload


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hw", help="hardware models: list them, price a workload",
                       description="Analytic FPGA hardware models (built-in and plug-in).")
    hsub = p.add_subparsers(dest="hw_command", metavar="SUBCOMMAND", required=True)
    ls = hsub.add_parser("list", help="list hardware models with their knobs")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(func=cmd_list)
    from .design import add_design_args

    ev = hsub.add_parser("eval", help="price a topology or workload on a hardware model")
    add_design_args(ev, "hardware model (see 'dse hw list')")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(func=cmd_eval)
    from .validate import register_hw  # rtl, verify, synth: generated RTL of a design point

    register_hw(hsub)
    from .hw_lanes import register_lanes  # calibrate, lanes: lane prices grounded in synthesis

    register_lanes(hsub)


# --- list ------------------------------------------------------------------------------

def _knob_dict(k) -> dict[str, Any]:
    d = {"name": k.name, "kind": k.kind, "default": k.default, "unit": k.unit, "doc": k.doc,
         "search": k.search}
    if k.kind == "categorical":
        d["choices"] = list(k.choices)
    else:
        d.update(low=k.low, high=k.high, log=k.log)
    return d


def cmd_list(args: argparse.Namespace) -> int:
    from hwmodels.registry import RegistryError, list_models

    try:
        names = list_models()
    except RegistryError as e:
        raise UserError(str(e)) from None
    models = [hw_model(n) for n in names]
    if args.json:
        print(json.dumps([{"name": m.name, "description": m.description,
                           "knobs": [_knob_dict(k) for k in m.knobs()]} for m in models], indent=2))
        return 0
    for m in models:
        print(f"{m.name}: {m.description}")
        for k in m.knobs():
            rng = ("one of " + ", ".join(str(c) for c in k.choices) if k.kind == "categorical"
                   else f"{k.kind} in [{k.low:g}, {k.high:g}]{' log' if k.log else ''}")
            default = f"{k.default:g}" if isinstance(k.default, float) else str(k.default)
            default += f" {k.unit}" if k.unit else ""
            print(f"  {k.name:<28} {default:<14} {rng}{'' if k.search else '  (not searched)'}")
        print()
    return 0


# --- eval ------------------------------------------------------------------------------

def cmd_eval(args: argparse.Namespace) -> int:
    from hwmodels import Unsupported

    model = hw_model(args.hwmodel)
    point = design_point(args, model)
    workload = load_workload(args)
    try:
        report = model.evaluate(workload, point)
    except Unsupported as e:
        raise UserError(f"hardware model {model.name!r} cannot price this point: {e.reason}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    _print_report(workload, report)
    return 0


def _print_report(workload, report) -> None:
    print(f"{report.model} on {report.device} at {report.clock_hz / 1e6:g} MHz: "
          f"{workload.name}, {len(report.layers)} layers, {workload.macs / 1e6:,.1f} MMACs")
    print(f"{'layer':<24} {'cycles':>14} {'latency_s':>11} {'energy_j':>11} {'util':>6} {'bound':>7}")
    for l in report.layers:
        bound = "memory" if l.memory_cycles > l.compute_cycles else "compute"
        print(f"{l.name[:24]:<24} {l.cycles:>14,.0f} {l.latency_s:>11.4g} {l.energy_j:>11.4g} "
              f"{l.utilization:>6.1%} {bound:>7}")
    print(f"{'total':<24} {report.cycles:>14,.0f} {report.latency_s:>11.4g} {report.energy_j:>11.4g}")
    r, c = report.resources, report.capacity
    parts = []
    for name in ("lut", "ff", "dsp", "bram18", "uram"):
        used, cap = getattr(r, name), getattr(c, name)
        if used or cap:
            pct = f" ({used / cap:.1%})" if cap else ""
            parts.append(f"{name} {used:,.0f}/{cap:,.0f}{pct}")
    print("resources: " + ", ".join(parts))
    print("fits: yes" if report.fits else "fits: no - " + "; ".join(report.violations))
    for note in report.notes:
        print(f"note: {note}")
