"""Command line: ``dse <command> ...``.

Each command group lives in ``dse/commands/<name>.py`` with ``register(subparsers)``;
library code raises, and only this module turns exceptions into messages and exit codes:
a :class:`~dse.errors.UserError` (or a bad argument) is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .errors import UserError

#: command modules, in the order ``dse --help`` lists them
COMMAND_MODULES = (
    "dse.commands.search",
    "dse.commands.report",
    "dse.commands.quant",
    "dse.commands.hw",
    "dse.commands.workload",
    "dse.commands.train",
    "dse.commands.multires",
    "dse.commands.allocate",
    "dse.commands.msq",
)

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dse",
        description="Hardware-aware quantization design-space exploration: search per-layer "
        "number formats and accelerator configurations with Optuna, priced by analytic FPGA "
        "models and short quantization-aware fine-tunes.",
    )
    parser.add_argument("--version", action="version", version=f"dse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for modname in COMMAND_MODULES:
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"dse: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dse: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
