"""CLI options built from the shared declarations.

A setting declared once in ``dse.config`` (type, default, constraint, doc) becomes an argparse
option with :func:`add_setting`; the options several commands share (``--storage``, ``--study``,
``--seed``, ``--epochs``, ``--lr``, ``--torch-device``, ``--fpga``) are declared here once.
``--device`` meant a torch device in some commands and an FPGA part in others: it is refused
with a one-line hint naming the new spelling for that command (:func:`refuse_device`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from typing import Any, Optional

from ..config import FinetuneBudget, FinetuneConfig, HardwareConfig, StudyConfig
from ..config.schema import Choice, Constraint, FieldError, Int, Num, constraint_of
from ..errors import UserError

_UNSET: Any = object()


def _field(cls: type, name: str):
    for f in fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def flag_of(cls: type, name: str) -> str:
    """``--field-name`` (or the field's own ``cli`` spelling)."""
    return _field(cls, name).metadata.get("cli") or "--" + name.replace("_", "-")


def _argtype(c: Optional[Constraint]) -> Any:
    return int if isinstance(c, Int) else float if isinstance(c, Num) else str


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def add_setting(parser: Any, cls: type, name: str, *flags: str, default: Any = _UNSET, help: Optional[str] = None,
                dest: Optional[str] = None, metavar: Optional[str] = None, default_text: Optional[str] = None,
                required: bool = False, choices: bool = False) -> argparse.Action:
    """An option for field ``name`` of config class ``cls``: its type from the constraint, its
    default from the field (``default=None``: "not given", e.g. to override a config), its help
    from the field's doc (``help`` replaces it) with the choices and default appended.
    ``choices=True``: argparse itself refuses a value outside a ``Choice`` ("invalid choice")."""
    f = _field(cls, name)
    c = f.metadata.get("constraint")
    if default is _UNSET:
        default = f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]
    text = help if help is not None else f.metadata.get("doc", "")
    extra = []
    if isinstance(c, Choice) and not all(a in text for a in c.allowed):
        extra.append(" | ".join(c.allowed))
    shown = default_text if default_text is not None else (_show(default) if default is not None else None)
    if shown is not None and "default" not in text:
        extra.append(f"default {shown}")
    if extra:
        text = f"{text} ({'; '.join(extra)})" if text else "; ".join(extra)
    kw: dict[str, Any] = {"type": _argtype(c), "default": default, "help": text, "dest": dest or name}
    if metavar:
        kw["metavar"] = metavar
    if required:
        kw["required"] = True
    if choices and isinstance(c, Choice):
        kw["choices"] = tuple(c.allowed)
    action = parser.add_argument(*(flags or (flag_of(cls, name),)), **kw)
    action.setting = (cls, name)  # type: ignore[attr-defined]
    return action


def check_setting(value: Any, cls: type, name: str, flag: str) -> Any:
    """``value`` checked with field ``name``'s constraint; a mistake is a UserError naming ``flag``."""
    return constraint_of(cls, name).check(value, flag)


# --- the shared options, declared once ------------------------------------------------------

def add_storage(parser: Any, help: Optional[str] = None, required: bool = False) -> argparse.Action:
    return add_setting(parser, StudyConfig, "storage", "--storage", default=None, required=required,
                       help=help or "storage URL (default runs/dse.journal; sqlite:///F, postgresql://...)")


def add_study(parser: Any, help: Optional[str] = None, required: bool = False) -> argparse.Action:
    return add_setting(parser, StudyConfig, "name", "--study", default=None, dest="study", required=required,
                       help=help or "study name")


def add_seed(parser: Any, default: Optional[int] = 0, help: Optional[str] = None, **kw: Any) -> argparse.Action:
    return add_setting(parser, StudyConfig, "seed", "--seed", default=default, help=help or "random seed", **kw)


def add_epochs(parser: Any, cls: type = FinetuneBudget, **kw: Any) -> argparse.Action:
    """``--epochs`` of ``cls`` (FinetuneBudget, MultiresConfig, ...); ``kw`` as :func:`add_setting`."""
    return add_setting(parser, cls, "epochs", "--epochs", **kw)


def add_lr(parser: Any, cls: type = FinetuneBudget, **kw: Any) -> argparse.Action:
    """``--lr`` of ``cls``; ``kw`` as :func:`add_setting`."""
    return add_setting(parser, cls, "lr", "--lr", **kw)


def add_torch_device(parser: Any, *aliases: str) -> argparse.Action:
    """``--torch-device cpu|cuda|auto`` (dest ``torch_device``): where training runs; the config's
    ``finetune.device``."""
    return add_setting(parser, FinetuneConfig, "device", "--torch-device", *aliases, dest="torch_device",
                       help="torch device for training: cpu | cuda | auto (auto: cuda when available)")


def add_fpga(parser: Any, default: Optional[str] = None, help: Optional[str] = None) -> argparse.Action:
    """``--fpga PART`` (alias ``--part``, dest ``fpga``): an FPGA part such as XC7Z020; the config's
    ``hardware.device``."""
    return add_setting(parser, HardwareConfig, "device", "--fpga", "--part", default=default, dest="fpga",
                       metavar="PART", help=help or "FPGA part, e.g. XC7Z020 (see 'dse hw list')")


def check_fpga(part: Optional[str], flag: str = "--fpga") -> None:
    """An unknown FPGA part is a one-line UserError naming the known ones."""
    if part is None:
        return
    from hwmodels import list_devices

    if part not in list_devices():
        raise UserError(f"{flag}: unknown FPGA {part!r}; known: {', '.join(list_devices())}")


class _RefuseDevice(argparse.Action):
    def __init__(self, option_strings, dest, hint: str = "", **kw):
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kw)
        self.hint = hint

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"--device is ambiguous now; {self.hint}")


def add_workload_arg(parser: Any) -> argparse.Action:
    """The positional ``WORKLOAD`` of the training commands."""
    return parser.add_argument("workload", metavar="WORKLOAD",
                               help="a workload name (see 'dse workload list') or module.path:function")


def add_cache_dir(parser: Any, help: str = "pre-training cache") -> argparse.Action:
    return parser.add_argument("--cache-dir", metavar="DIR",
                               help=f"{help} (default: $DSE_CACHE_DIR, else ~/.cache/dse)")


def add_run_output(parser: Any, json_help: str = "print the result as JSON",
                   quiet_help: str = "no progress bar or notes; only the result") -> None:
    """``--threads N`` (CPU threads while training), ``--json`` and ``--quiet`` (see :func:`note`)."""
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads while training (default 1; 0: torch's default)")
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true", help=quiet_help)


def note(args: argparse.Namespace, text: str) -> None:
    """A progress note on stderr, unless ``--quiet``."""
    if not args.quiet:
        print(text, file=sys.stderr)


#: the hints for the old ``--device``: what it meant in each kind of command
TORCH_DEVICE_HINT = "use --torch-device cpu|cuda|auto"
FPGA_HINT = ("use --fpga PART for the FPGA part, e.g. --fpga XC7Z020 (--part is the same); training runs on "
             "--torch-device cpu|cuda|auto")


def refuse_device(parser: Any, hint: str) -> None:
    """A hidden ``--device`` that stops parsing with one line: ``dse CMD: error: --device is
    ambiguous now; <hint>`` (exit 2)."""
    parser.add_argument("--device", action=_RefuseDevice, hint=hint, dest="_refused_device", default=None)


__all__ = ["FPGA_HINT", "TORCH_DEVICE_HINT", "FieldError", "add_cache_dir", "add_epochs", "add_fpga", "add_lr",
           "add_run_output", "add_seed", "add_setting", "add_storage", "add_study", "add_torch_device",
           "add_workload_arg", "check_fpga", "check_setting", "flag_of", "note", "refuse_device"]
