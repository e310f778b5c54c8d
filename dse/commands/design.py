"""The design-point options shared by ``dse hw eval|rtl|verify|synth`` and ``dse validate``:
which workload (``--topology`` or ``--workload``), which hardware model and knobs, which
number formats (``--scheme`` or ``--plan``), turned into a model, a workload and a point."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError
from .options import refuse_device


def add_design_args(p: argparse.ArgumentParser, hwmodel_help: str = "hardware model (RTL: 'systolic')") -> None:
    """The design-point options shared by ``dse hw eval|rtl|verify|synth``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--topology", metavar="FILE", help="SCALE-Sim topology CSV (conv or GEMM format)")
    src.add_argument("--workload", metavar="NAME", help="workload name (see 'dse workload list')")
    p.add_argument("--hwmodel", required=True, metavar="NAME", help=hwmodel_help)
    p.add_argument("-p", "--param", action="append", default=[], metavar="KNOB=VALUE",
                   help="hardware knob value (repeatable)")
    p.add_argument("--scheme", default="fixed:8", metavar="KIND:BITS",
                   help="number format of every layer, e.g. fixed:8, msq:4, term:8,term_budget=12 "
                        "(default fixed:8)")
    p.add_argument("--plan", metavar="FILE", help="plan JSON: per-layer schemes and hardware knobs")
    refuse_device(p, "give the FPGA part as a knob: -p device=PART (e.g. -p device=XC7Z020)")


def hw_model(name: str, **kwargs: Any):
    from hwmodels.registry import RegistryError, get_model

    try:
        return get_model(name, **kwargs)
    except RegistryError as e:
        raise UserError(str(e)) from None
    except ValueError as e:
        raise UserError(f"--hwmodel: {e}") from None


def load_workload(args: argparse.Namespace):
    if args.topology:
        from hwmodels.topology import load_topology

        try:
            topo = load_topology(args.topology)
        except ValueError as e:
            raise UserError(f"--topology: {e}") from None
        for r in topo.renamed:  # SCALE-Sim keeps repeated names; a plan needs unique ones
            print(f"topology {args.topology}: {r}", file=sys.stderr if getattr(args, "json", False) else sys.stdout)
        return topo.workload
    try:
        from dse.workloads import get_workload_spec
    except ImportError as e:
        raise UserError(f"--workload: workloads are not available in this installation ({e}); "
                        "use --topology FILE") from None
    try:
        return get_workload_spec(args.workload)
    except UserError:
        raise
    except (KeyError, ValueError) as e:
        raise UserError(f"--workload: {e}") from None


def parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"-p: expected KNOB=VALUE, got {item!r}")
        out[key.strip()] = val.strip()
    return out


def design_point(args: argparse.Namespace, model):
    from hwmodels import DesignPoint, QuantScheme

    try:
        scheme = QuantScheme.parse(args.scheme)
    except ValueError as e:
        raise UserError(f"--scheme: {e}") from None
    schemes: dict = {}
    knobs: dict[str, Any] = {}
    if args.plan:
        try:
            data = json.loads(Path(args.plan).read_text())
        except OSError as e:
            raise UserError(f"--plan: cannot read {args.plan}: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise UserError(f"--plan: {args.plan} is not JSON: {e}") from None
        try:
            plan = DesignPoint.from_dict(data)
        except ValueError as e:
            raise UserError(f"--plan: {e}") from None
        schemes, knobs = plan.scheme_map, plan.knob_map
    knobs.update(parse_params(args.param))
    allowed = {k.name: k for k in model.knobs()}
    for name, value in knobs.items():
        if name not in allowed:
            raise UserError(f"-p {name}: unknown knob of hardware model {model.name!r}; "
                            f"knobs: {', '.join(allowed)}")
        try:
            knobs[name] = allowed[name].validate(value)
        except ValueError as e:
            raise UserError(f"-p {e}") from None
    return DesignPoint.make(schemes, knobs, scheme)
