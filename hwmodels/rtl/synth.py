"""Run Yosys ``synth_xilinx`` on generated Verilog and count the cells it maps to.

The one module that touches the synthesizer (an edge of the house: everything else in
``hwmodels`` is pure). A missing ``yosys`` is a :class:`SynthError` whose message is one
line naming the package; a failing run is a :class:`SynthError` with the last line
Yosys printed.

Counting (Yosys's ``stat -json`` after ``synth_xilinx``): ``lut`` = LUT1..LUT6 cells
(a LUT6_2 counts once; ``MUXF7/F8`` and ``CARRY4/CARRY8`` ride with the LUTs of the same
slice and are not LUTs), ``ff`` = FDRE/FDSE/FDCE/FDPE (+ SRL16E/SRLC32E shift
registers, one per cell), ``dsp`` = DSP48E1/DSP48E2, ``bram18`` = RAMB18E1/E2 + 2 x
RAMB36E1/E2. A LUT-RAM cell (RAM32M, RAM64X1D, ...) counts as one LUT (the generated lanes
use none; a multi-LUT RAM cell would be undercounted).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

FAMILIES = ("xc7", "xcup")

_LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2")
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "SRL16E", "SRLC32E")
_DSP_CELLS = ("DSP48E1", "DSP48E2")
_LUTRAM_PREFIX = ("RAM32", "RAM64", "RAM128", "RAM256")


class SynthError(RuntimeError):
    """Synthesis could not run or failed; ``str(e)`` is one line naming the fix."""


@dataclass(frozen=True)
class SynthResult:
    """Cell counts of one synthesized top module, with what produced them.

    ``cells`` is every cell type Yosys reported (name -> count), for inspection;
    ``command`` the Yosys script run; ``rtl_sha256`` the hash of the Verilog text."""

    top: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram18: int
    carry: int
    cells: tuple[tuple[str, int], ...]
    tool: str
    command: str
    rtl_sha256: str

    def to_dict(self) -> dict:
        return {"top": self.top, "family": self.family, "lut": self.lut, "ff": self.ff,
                "dsp": self.dsp, "bram18": self.bram18, "carry": self.carry,
                "cells": dict(self.cells), "tool": self.tool, "command": self.command,
                "rtl_sha256": self.rtl_sha256}


def rtl_sha256(verilog: str) -> str:
    """Hash of the Verilog text (UTF-8) as stored in calibration provenance."""
    return hashlib.sha256(verilog.encode("utf-8")).hexdigest()


def find_yosys() -> str:
    """Path of the ``yosys`` executable (``$DSE_YOSYS`` first, then ``PATH``)."""
    path = os.environ.get("DSE_YOSYS") or shutil.which("yosys")
    if not path or not os.path.exists(path):
        raise SynthError("yosys not found: apt-get install yosys")
    return path


def yosys_version(yosys: str | None = None) -> str:
    """``Yosys 0.23 (git sha1 ...)`` as printed by ``yosys -V``."""
    exe = yosys or find_yosys()
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise SynthError(f"yosys at {exe} cannot run ({e.strerror}): apt-get install yosys") from None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "yosys (unknown version)"


def synth_command(top: str, family: str, use_dsp: bool = True) -> str:
    """The Yosys script :func:`synthesize` runs (recorded as provenance)."""
    if family not in FAMILIES:
        raise ValueError(f"family: must be one of {', '.join(FAMILIES)}; got {family!r}")
    flags = "" if use_dsp else " -nodsp"
    return (f"read_verilog -sv lane.v; synth_xilinx -family {family} -top {top} -noiopad"
            f"{flags} -flatten; tee -q -o stat.json stat -json")


def synthesize(verilog: str, top: str, family: str, use_dsp: bool = True,
               timeout_s: float = 600.0) -> SynthResult:
    """Synthesize ``verilog`` (top module ``top``) for ``family`` (xc7 | xcup) and count
    LUT/FF/DSP/BRAM18 cells. ``use_dsp=False`` forbids DSP inference (``-nodsp``): the
    lane families that the models price in fabric are synthesized that way.

    Raises :class:`SynthError` (yosys missing or failing) or ``ValueError`` (bad family).
    Runs in a private temporary directory; nothing is left behind."""
    script = synth_command(top, family, use_dsp)
    exe = find_yosys()
    version = yosys_version(exe)
    with tempfile.TemporaryDirectory(prefix="dse-synth-") as tmp:
        with open(os.path.join(tmp, "lane.v"), "w", encoding="utf-8") as f:
            f.write(verilog)
        try:
            proc = subprocess.run([exe, "-q", "-p", script], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise SynthError(f"yosys: synthesis of {top} took over {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            lines = [l.strip() for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
            last = next((l for l in reversed(lines) if "ERROR" in l), lines[-1] if lines else "no output")
            raise SynthError(f"yosys failed on {top} ({family}): {last}")
        with open(os.path.join(tmp, "stat.json"), encoding="utf-8") as f:
            stat = json.load(f)
    cells = _top_cells(stat, top)
    return SynthResult(top=top, family=family, lut=count_luts(cells), ff=count_ffs(cells),
                       dsp=sum(cells.get(c, 0) for c in _DSP_CELLS),
                       bram18=cells.get("RAMB18E1", 0) + cells.get("RAMB18E2", 0)
                       + 2 * (cells.get("RAMB36E1", 0) + cells.get("RAMB36E2", 0)),
                       carry=cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
                       cells=tuple(sorted(cells.items())), tool=version, command=script,
                       rtl_sha256=rtl_sha256(verilog))


def count_luts(cells: dict[str, int]) -> int:
    """LUT cells (LUT1..LUT6, LUT6_2) plus LUT-RAM cells, from a cell-type histogram."""
    return (sum(cells.get(c, 0) for c in _LUT_CELLS)
            + sum(n for c, n in cells.items() if c.startswith(_LUTRAM_PREFIX)))


def count_ffs(cells: dict[str, int]) -> int:
    """Flip-flop cells (and SRL shift registers), from a cell-type histogram."""
    return sum(cells.get(c, 0) for c in _FF_CELLS)


def _top_cells(stat: dict, top: str) -> dict[str, int]:
    # after -flatten there is one module; its name is the top, escaped as "\\top"
    mods = stat.get("modules", {})
    for name, mod in mods.items():
        if re.sub(r"^\\", "", name) == top:
            return {str(k): int(v) for k, v in mod.get("num_cells_by_type", {}).items()}
    design = stat.get("design", {})
    return {str(k): int(v) for k, v in design.get("num_cells_by_type", {}).items()}


__all__ = ["FAMILIES", "SynthError", "SynthResult", "count_ffs", "count_luts", "find_yosys",
           "rtl_sha256", "synth_command", "synthesize", "yosys_version"]
