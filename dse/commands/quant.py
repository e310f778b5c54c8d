"""``dse quant``: inspect number formats (level sets, term quantization) from the shell."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quant", help="inspect number formats: level sets and term quantization",
                       description="Inspect the number formats the tool searches over.")
    qsub = p.add_subparsers(dest="quant_command", metavar="SUBCOMMAND", required=True)
    lv = qsub.add_parser("levels", help="print the signed, normalised level set of a format")
    lv.add_argument("kind", help="fixed | pow2 | sp2 | term")
    lv.add_argument("bits", type=int, help="bits, sign included")
    lv.add_argument("--json", action="store_true", help="print a JSON list")
    lv.set_defaults(func=cmd_levels)
    tq = qsub.add_parser("terms", help="keep the largest power-of-two terms of integers, per group")
    tq.add_argument("values", nargs="+", type=int, help="integers (e.g. 7 -5 3 12)")
    tq.add_argument("--budget", type=int, required=True, help="terms kept per group")
    tq.add_argument("--group", type=int, default=1, help="values per group (default 1: per value)")
    tq.add_argument("--encoding", default="binary", help="binary | csd (default binary)")
    tq.add_argument("--json", action="store_true")
    tq.set_defaults(func=cmd_terms)


def cmd_levels(args: argparse.Namespace) -> int:
    from hwmodels.formats import levels

    try:
        lv = levels(args.kind, args.bits)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(lv.tolist()))
    else:
        print(f"{args.kind}:{args.bits}  {len(lv)} levels")
        print(" ".join(f"{v:g}" for v in lv))
    return 0


def cmd_terms(args: argparse.Namespace) -> int:
    from ..quant import count_terms, term_quantize

    try:
        values = np.array(args.values, dtype=np.int64)
        kept = term_quantize(values, args.budget, args.group, args.encoding)
        terms = count_terms(values, args.encoding)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps({"values": values.tolist(), "kept": kept.tolist(), "terms": terms.tolist()}))
    else:
        print(f"{'value':>8} {'terms':>5} {'kept':>8}")
        for v, t, k in zip(values.tolist(), terms.tolist(), kept.tolist()):
            print(f"{v:>8} {t:>5} {k:>8}")
    return 0
