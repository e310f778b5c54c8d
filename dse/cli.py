"""Command line: ``dse <command> ...``.

Each command group lives in ``dse/commands/<name>.py`` with ``register(subparsers)``;
library code raises, and only this module turns exceptions into messages and exit codes:
a :class:`~dse.errors.UserError` (or a bad argument) is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from .errors import DseWarning, SearchInterrupted, StorageError, UserError
from .exiting import heavy, quick_exit

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
    "dse.commands.validate",
)

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``--version``: print ``dse VERSION`` and exit 0 (the version is read only when asked for)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit", **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__

        print(f"dse {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dse",
        description="Hardware-aware quantization design-space exploration: search per-layer "
        "number formats and accelerator configurations with Optuna, priced by analytic FPGA "
        "models and short quantization-aware fine-tunes.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for modname in COMMAND_MODULES:
        importlib.import_module(modname).register(sub)
    return parser


EXIT_FAULT = 1
EXIT_INTERRUPTED = 130


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "(no message)"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``dse`` warnings as one line; others keep Python's format."""
    if issubclass(category, DseWarning):
        print(f"dse: warning: {_one_line(message)}", file=sys.stderr)
    else:
        _PY_SHOWWARNING(message, category, filename, lineno, file, line)


_PY_SHOWWARNING = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``dse`` command; returns its exit code. Without ``argv`` (the console script,
    ``python -m dse``) the arguments are the process's, and a command that loaded torch ends the
    process itself once all is written (:func:`dse.exiting.quick_exit`); pass ``argv`` to call
    it from Python and get the code back."""
    parser = build_parser()
    from_shell = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    args.argv = argv  # for messages that print the command to resume
    warnings.showwarning = _show_warning
    code = _run(args)
    if from_shell and (heavy() or code == EXIT_INTERRUPTED):
        quick_exit(code)  # every record and report is written: skip torch's teardown (~0.85 s)
    return code


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; a user mistake, a fault or an interruption as one line."""
    try:
        rc = args.func(args)
    except UserError as e:
        print(f"dse: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SearchInterrupted as e:
        print(f"dse: {_one_line(e)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StorageError as e:
        print(f"dse: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print("dse: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except OSError as e:  # a full disk or a vanished directory while writing a report, a cache, a plan
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"dse: error: cannot write or read{where}: {e.strerror or _one_line(e)}", file=sys.stderr)
        return EXIT_FAULT
    finally:
        warnings.showwarning = _PY_SHOWWARNING
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
