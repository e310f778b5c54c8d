"""``dse workload list`` and ``dse workload show NAME``: the networks the tool knows and
their compute layers as GEMMs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError


def parse_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> options; values read as int, float, true/false/none, else text."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, eq, text = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UserError(f"--option: expected KEY=VALUE, got {pair!r}")
        out[key] = _scalar(text.strip())
    return out


def _scalar(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def add_option_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE", default=[],
                   help="a workload option (repeatable), e.g. -o data_dir=~/data/cifar10")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workload", help="list the workloads and show their compute layers",
                       description="Workloads are networks (with data, or shape-only) the search can price "
                       "and fine-tune: built-ins, plug-ins (entry points 'dse.workloads') or your own "
                       "'module.path:function'.")
    wsub = p.add_subparsers(dest="workload_command", metavar="SUBCOMMAND", required=True)
    ls = wsub.add_parser("list", help="list the registered workloads")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(func=cmd_list)
    sh = wsub.add_parser("show", help="per-layer GEMM dimensions, MACs and weights of a workload")
    sh.add_argument("name", metavar="NAME", help="a workload name (see 'dse workload list'), module.path:function, "
                    "module.path:Class (with --input-shape) or a SCALE-Sim topology FILE.csv")
    sh.add_argument("--json", action="store_true", help="print JSON (layers, edges, totals)")
    sh.add_argument("--topology-out", metavar="FILE",
                    help="also write the layers as a SCALE-Sim conv topology CSV")
    sh.add_argument("--input-shape", metavar="C,H,W",
                    help="for a model class (module.path:Class): the shape of one input, batch excluded, "
                    "e.g. 3,224,224; constructor arguments go in -o NAME=VALUE")
    add_option_argument(sh)
    sh.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    from ..workloads import workload_entries

    rows = []
    for entry in workload_entries().values():
        try:
            desc = entry.description
        except UserError as e:
            desc = f"(cannot load: {e})"
        rows.append({"name": entry.name, "origin": entry.origin, "target": entry.target, "description": desc})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    wn = max(len(r["name"]) for r in rows)
    wo = max(len(r["origin"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{wn}}  {r['origin']:<{wo}}  {r['description']}")
    print("\nor your own: module.path:function wherever a workload name goes (see docs/workloads.md)")
    return 0


def _layer_row(layer: Any) -> dict[str, Any]:
    return {**asdict(layer), "macs": layer.macs, "weights": layer.weights}


def cmd_show(args: argparse.Namespace) -> int:
    from ..workloads import get_workload

    options = parse_options(args.option)
    if args.input_shape:
        options["input_shape"] = args.input_shape
    bundle = get_workload(args.name, **options)
    spec = bundle.spec
    if args.name.lower().endswith(".csv") and not args.json:
        from hwmodels.topology import load_topology

        for r in load_topology(Path(args.name).expanduser()).renamed:
            print(f"topology {args.name}: {r}")
    if args.topology_out:
        write_topology_csv(spec, args.topology_out)
    total = {"layers": len(spec.layers), "macs": spec.macs, "gmacs": spec.macs / 1e9, "weights": spec.weights}
    if args.json:
        print(json.dumps({"name": bundle.name, "description": bundle.description, "origin": bundle.origin,
                          "has_data": bundle.has_data, "num_classes": bundle.num_classes,
                          "options": dict(bundle.options),
                          "layers": [_layer_row(l) for l in spec.layers],
                          "edges": [list(e) for e in spec.edges], "total": total}, indent=2, default=str))
        return 0
    head = ("layer", "kind", "M", "K", "N", "groups", "MACs", "weights")
    rows = [(l.name, l.kind, l.M, l.K, l.N, l.groups, l.macs, l.weights) for l in spec.layers]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    title = f"{bundle.name}: {bundle.description}" if bundle.description else bundle.name
    print(title)
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(*r))
    joins = sorted({n for e in spec.edges for n in e} - set(spec.layer_names))
    print(f"total: {len(spec.layers)} layers, {spec.macs / 1e9:.4g} GMACs ({spec.macs:,} MACs), "
          f"{spec.weights / 1e6:.4g} M weights, {len(spec.edges)} edges"
          + (f" ({len(joins)} join nodes)" if joins else ""))
    if args.topology_out:
        print(f"wrote {args.topology_out}", file=sys.stderr)
    return 0


def write_topology_csv(spec: Any, path: str) -> None:
    """``spec`` as a SCALE-Sim conv topology CSV (``hwmodels.topology.write_topology``: the
    IFMAP is the padded extent the output reads, a grouped layer one row per group)."""
    from hwmodels.topology import write_topology

    try:
        write_topology(spec, Path(path).expanduser(), fmt="conv")
    except OSError as e:
        raise UserError(f"--topology-out: cannot write {path}: {e.strerror or e}") from None
