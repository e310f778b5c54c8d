"""``dse hw calibrate`` and ``dse hw lanes``: lane prices grounded in synthesis.

    dse hw calibrate --family xc7|xcup [--check K] [--json] [-o PATH] [--jobs N]
    dse hw lanes --family xc7|xcup [--json]

``calibrate`` synthesizes every generated lane of the grid with Yosys and writes the
calibration table (atomically; default ``./lanes_<family>.json``; the shipped table is
``hwmodels/data/lanes_<family>.json``). ``--check K`` writes nothing: it re-synthesizes
K lanes off the grid and prints, per lane and resource, the model's figure, the fresh
synthesis figure and ``rel_error`` = |model - synth| / synth.
``lanes`` prints the per-lane prices the hardware models use, each with its source.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from ..errors import UserError

#: widths ``dse hw lanes`` lists (the search range's common widths)
LANE_W = (2, 3, 4, 5, 6, 8)
LANE_A = (2, 4, 8)
CHECK_LIMIT = 0.20


def lane_families() -> tuple[tuple[str, str, str], ...]:
    """(JSON unit, kind, model unit) in listing order: the generated lane families a model unit
    prices (read on use: the parser build stays free of hwmodels.arith and hwmodels.rtl)."""
    from hwmodels.arith import LANE_UNIT
    from hwmodels.rtl.lanes import FAMILIES

    return tuple((unit, kind, model) for unit, kind in FAMILIES for model, json_unit in LANE_UNIT.items()
                 if json_unit == unit)


def register_lanes(hsub: argparse._SubParsersAction) -> None:
    cal = hsub.add_parser("calibrate", help="synthesize the generated lanes with Yosys: write or check "
                                            "the lane calibration table")
    cal.add_argument("--family", required=True, metavar="FAMILY", help="xc7 (7-series) or xcup (UltraScale+)")
    cal.add_argument("--check", type=str, default=None, metavar="K",
                     help="re-synthesize K lanes off the grid and compare with the model (writes nothing)")
    cal.add_argument("--json", action="store_true", help="print JSON")
    cal.add_argument("-o", "--output", metavar="PATH", default=None,
                     help="where to write the table (default ./lanes_<family>.json)")
    cal.add_argument("--jobs", type=str, default="2", metavar="N", help="parallel Yosys runs (default 2)")
    cal.set_defaults(func=cmd_calibrate)
    ln = hsub.add_parser("lanes", help="the lane price list the hardware models use, with sources")
    ln.add_argument("--family", required=True, metavar="FAMILY", help="xc7 (7-series) or xcup (UltraScale+)")
    ln.add_argument("--json", action="store_true", help="print JSON")
    ln.set_defaults(func=cmd_lanes)


def _family(value: str) -> str:
    from hwmodels.calibration import FAMILIES

    if value not in FAMILIES:
        raise UserError(f"--family: unknown FPGA family {value!r}; use one of {', '.join(FAMILIES)}")
    return value


def _positive_int(flag: str, value: str, high: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = None
    if n is None or not 1 <= n <= high:
        raise UserError(f"{flag}: expected an integer in [1, {high}], got {value!r}")
    return n


def _output_path(args: argparse.Namespace, family: str) -> Path:
    path = Path(args.output) if args.output else Path(f"lanes_{family}.json")
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"-o: {path} is a directory; give a file path such as {path / f'lanes_{family}.json'}")
    if not parent.is_dir():
        raise UserError(f"-o: directory {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"-o: directory {parent} is not writable; choose another path")
    return path


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent or "."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_calibrate(args: argparse.Namespace) -> int:
    from hwmodels.rtl.calibrate import CHECK_LANES, build_table, check
    from hwmodels.rtl.synth import SynthError, find_yosys

    family = _family(args.family)
    jobs = _positive_int("--jobs", args.jobs, 64)
    k = _positive_int("--check", args.check, len(CHECK_LANES)) if args.check is not None else None
    path = _output_path(args, family) if k is None else None
    try:
        find_yosys()
        if k is not None:
            return _print_check(family, check(family, k, jobs=jobs), args.json)
        quiet = args.json
        table = build_table(family, progress=None if quiet else (lambda m: print(m, file=sys.stderr)),
                            jobs=jobs)
    except SynthError as e:
        raise UserError(str(e)) from None
    text = json.dumps(table.to_dict(), indent=1) + "\n"
    _write_atomic(path, text)
    same = _compare_shipped(family, table)
    if args.json:
        print(json.dumps({"family": family, "path": str(path), "rows": len(table.rows),
                          "tool": table.rows[0].tool, "rows_differing_from_shipped": same}))
    else:
        print(f"wrote {path}: {len(table.rows)} lanes synthesized by {table.rows[0].tool}; "
              f"{same} row(s) differ from the shipped table")
    return 0


def _compare_shipped(family: str, table) -> int:
    """Rows whose counts differ from the shipped table (-1 when there is none)."""
    from hwmodels.calibration import CalibrationError, load_table

    try:
        shipped = {(r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits): (r.lut, r.ff, r.dsp)
                   for r in load_table(family).rows}
    except CalibrationError:
        return -1
    return sum(1 for r in table.rows
               if shipped.get((r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits)) != (r.lut, r.ff, r.dsp))


def _print_check(family: str, rows, as_json: bool) -> int:
    worst = max((r.rel_error for r in rows), default=0.0)
    if as_json:
        print(json.dumps({"family": family, "limit": CHECK_LIMIT, "worst_rel_error": worst,
                          "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        print(f"{'lane':<44} {'res':<4} {'model':>8} {'synth':>8} {'rel_error':>9}  source")
        for r in rows:
            src = "fit" if r.source.startswith("fit") else "table"
            print(f"{r.lane:<44} {r.resource:<4} {r.model:>8.1f} {r.synth:>8.0f} {r.rel_error:>9.3f}  {src}")
        print(f"worst rel_error {worst:.3f} (limit {CHECK_LIMIT:.2f}) over {len(rows) // 3} lanes")
    if worst > CHECK_LIMIT:
        print(f"calibrate --check: worst rel_error {worst:.3f} exceeds {CHECK_LIMIT:.2f}", file=sys.stderr)
        return 1
    return 0


def lane_list(family: str) -> list[dict]:
    """The lanes ``dse hw lanes`` prints (JSON-ready dicts, the issue's shape)."""
    from hwmodels.arith import Unsupported, exact_fixed_bits, lane_cost
    from hwmodels.calibration import ACC_GUARD
    from hwmodels.formats import BASELINE_KIND, MAX_BITS, get_format, kinds

    gen = {"xc7": "DSP48E1", "xcup": "DSP48E2"}[family]
    out = []
    for unit, kind, model_unit in lane_families():
        # a lane of a level-set format (pow2, sp2) holds its own codes; the others a fixed-point weight
        fmt = get_format(kind) if kind in kinds() else None
        own_codes = fmt is not None and not fmt.uniform and not fmt.row_mixed
        for w in LANE_W:
            if w > (fmt.max_bits if fmt is not None else MAX_BITS):
                continue
            for a in LANE_A:
                acc = exact_fixed_bits(kind if own_codes else BASELINE_KIND, w) + a + ACC_GUARD
                try:
                    p = lane_cost(model_unit, kind, w, a, acc, gen)
                except Unsupported:
                    continue
                out.append({"unit": unit, "kind": kind, "w_bits": w, "a_bits": a, "lut": round(p.lut, 3),
                            "ff": round(p.ff, 3), "dsp": round(p.dsp, 4),
                            "lanes_per_dsp": float(p.lanes_per_dsp), "source": p.source})
    return out


def cmd_lanes(args: argparse.Namespace) -> int:
    from hwmodels.calibration import CalibrationError

    family = _family(args.family)
    try:
        lanes = lane_list(family)
    except CalibrationError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps({"lanes": lanes}, indent=2))
        return 0
    tool = next((l["source"].split("(", 1)[1].split(",")[0] for l in lanes if l["source"].startswith("synthesis")), "?")
    print(f"lane prices for {family} (per lane; accumulator = product bits + 12; synthesis by {tool}; "
          "--json for full sources)")
    print(f"{'unit':<6} {'kind':<7} {'w':>2} {'a':>2} {'lut':>8} {'ff':>8} {'dsp':>6} {'lanes/dsp':>9}  source")
    for l in lanes:
        how = "fit from" if l["source"].startswith("fit") else "synthesis of"
        src = f"{how} {l['source'].split(' of ', 1)[-1].split(' (')[0].split(',')[0]}"
        print(f"{l['unit']:<6} {l['kind']:<7} {l['w_bits']:>2} {l['a_bits']:>2} {l['lut']:>8.1f} {l['ff']:>8.1f} "
              f"{l['dsp']:>6.3f} {l['lanes_per_dsp']:>9.0f}  {src}")
    return 0
