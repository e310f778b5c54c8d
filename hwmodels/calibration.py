"""Lane calibration tables: synthesized LUT/FF/DSP counts of every lane family, with
provenance, and the lookup the hardware models price lanes through.

A table is a JSON file per FPGA family (``hwmodels/data/lanes_xc7.json``,
``lanes_xcup.json``), written by ``dse hw calibrate`` and shipped with the package::

    {"format": "dse-lane-calibration/1", "family": "xc7",
     "rows": [{"unit": "lut", "kind": "fixed", "w_bits": 4, "a_bits": 4, "acc_bits": 20,
               "lut": 63, "ff": 28, "dsp": 0, "lanes_per_dsp": 0,
               "tool": "Yosys 0.23 (...)", "command": "read_verilog ...; synth_xilinx ...",
               "rtl_sha256": "...", "published": {...}   # optional
              }, ...]}

Counts are per generated module: a DSP row holds ``lanes_per_dsp`` lanes, so per lane
it is ``lut / lanes_per_dsp``. A DSP row may also carry ``"array": {"lut", "ff", "top",
"rtl_sha256"}``: the same lane synthesized the way an array instantiates it
(:func:`hwmodels.rtl.lanes.in_array`: its forwarded operands feed the neighbour slice's
input registers, so the DSP48E1 mapping keeps no fabric copy of them); the array models
price their lanes from those counts (``context="array"``), ``dse hw lanes`` and
``--check`` from the module's. Every row must carry its provenance (``tool``, ``command``,
``rtl_sha256``): a table without it is rejected (:class:`CalibrationError`). A user with
another synthesizer (Vivado) supplies their own table in this format through
``$DSE_LANE_TABLES`` (a directory holding ``lanes_<family>.json``); nothing else changes.

Lookup (:func:`lane_price`): a row at the same widths gives the price directly, moved to
the asked accumulator width by the family's measured cost per accumulator bit (two rows
of the same lane at different accumulator widths). Widths never synthesized are a fit:
the lane's structural formula (:mod:`hwmodels.arith`) scaled by synthesis/formula at the
nearest synthesized widths, flagged ``fit`` in ``source``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

FORMAT = "dse-lane-calibration/1"
FAMILIES = ("xc7", "xcup")
FAMILY_OF_DSP = {"DSP48E1": "xc7", "DSP48E2": "xcup"}
#: accumulator guard bits of the reference rows: product bits + 12 (a reduction of 4096)
ACC_GUARD = 12
#: accumulator widths of the slope rows, relative to the reference
SLOPE_DELTAS = (-8, 8)
_PROVENANCE = ("tool", "command", "rtl_sha256")


class CalibrationError(ValueError):
    """A calibration table that cannot be used (missing provenance, bad fields)."""


@dataclass(frozen=True)
class CalibrationRow:
    """One synthesized lane (counts per generated module) and where they came from."""

    unit: str
    kind: str
    w_bits: int
    a_bits: int
    acc_bits: int
    lut: float
    ff: float
    dsp: float
    lanes_per_dsp: int
    tool: str
    command: str
    rtl_sha256: str
    published: tuple[tuple[str, Any], ...] = ()
    #: counts of the lane as an array instantiates it (None: not synthesized that way)
    array_lut: float | None = None
    array_ff: float | None = None
    array_top: str = ""
    array_rtl_sha256: str = ""

    def counts(self, context: str = "module") -> tuple[float, float]:
        """(lut, ff) of the module, or of the lane in an array where that was synthesized."""
        if context == "array" and self.array_ff is not None:
            return float(self.array_lut or 0.0), float(self.array_ff)
        return self.lut, self.ff

    def to_dict(self) -> dict[str, Any]:
        d = {"unit": self.unit, "kind": self.kind, "w_bits": self.w_bits, "a_bits": self.a_bits,
             "acc_bits": self.acc_bits, "lut": self.lut, "ff": self.ff, "dsp": self.dsp,
             "lanes_per_dsp": self.lanes_per_dsp, "tool": self.tool, "command": self.command,
             "rtl_sha256": self.rtl_sha256}
        if self.published:
            d["published"] = dict(self.published)
        if self.array_ff is not None:
            d["array"] = {"lut": self.array_lut, "ff": self.array_ff, "top": self.array_top,
                          "rtl_sha256": self.array_rtl_sha256}
        return d

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.unit, self.kind, self.w_bits, self.a_bits)


@dataclass(frozen=True)
class CalibrationTable:
    family: str
    rows: tuple[CalibrationRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "family": self.family, "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class LanePrice:
    """Price of one lane (per lane, DSP share fractional) and where it comes from."""

    lut: float
    ff: float
    dsp: float
    lanes_per_dsp: int
    source: str
    fit: bool


def parse_table(data: Any, where: str = "table") -> CalibrationTable:
    """Validate a table read from JSON; raises :class:`CalibrationError` naming the row."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CalibrationError(f"{where}: not a lane calibration table (expected \"format\": \"{FORMAT}\")")
    family = data.get("family")
    if family not in FAMILIES:
        raise CalibrationError(f"{where}: family must be one of {', '.join(FAMILIES)}; got {family!r}")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise CalibrationError(f"{where}: \"rows\" must be a non-empty list")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise CalibrationError(f"{where}: row {i} is not an object")
        missing = [k for k in _PROVENANCE if not isinstance(r.get(k), str) or not r.get(k).strip()]
        if missing:
            raise CalibrationError(f"{where}: row {i} ({r.get('unit')}/{r.get('kind')} w{r.get('w_bits')} "
                                   f"a{r.get('a_bits')}) has no provenance: missing {', '.join(missing)}")
        arr = r.get("array")
        if arr is not None and (not isinstance(arr, dict) or not str(arr.get("rtl_sha256") or "").strip()):
            raise CalibrationError(f"{where}: row {i}: \"array\" must be an object with lut, ff, top and "
                                   "rtl_sha256 (its provenance)")
        try:
            out.append(CalibrationRow(
                unit=str(r["unit"]), kind=str(r["kind"]), w_bits=int(r["w_bits"]), a_bits=int(r["a_bits"]),
                acc_bits=int(r["acc_bits"]), lut=float(r["lut"]), ff=float(r["ff"]), dsp=float(r["dsp"]),
                lanes_per_dsp=int(r.get("lanes_per_dsp", 0)), tool=r["tool"], command=r["command"],
                rtl_sha256=r["rtl_sha256"],
                published=tuple(sorted((r.get("published") or {}).items())),
                array_lut=float(arr["lut"]) if arr else None, array_ff=float(arr["ff"]) if arr else None,
                array_top=str(arr.get("top", "")) if arr else "",
                array_rtl_sha256=str(arr["rtl_sha256"]) if arr else ""))
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"{where}: row {i}: bad or missing field ({e})") from None
    return CalibrationTable(family, tuple(out))


def table_path(family: str) -> str:
    """Where the table of ``family`` is read from (``$DSE_LANE_TABLES`` or package data)."""
    name = f"lanes_{family}.json"
    override = os.environ.get("DSE_LANE_TABLES")
    if override:
        return os.path.join(override, name)
    return str(resources.files("hwmodels") / "data" / name)


@lru_cache(maxsize=8)
def load_table(family: str) -> CalibrationTable:
    """The calibration table of ``family`` (xc7 | xcup), validated (cached)."""
    if family not in FAMILIES:
        raise ValueError(f"family: must be one of {', '.join(FAMILIES)}; got {family!r}")
    path = table_path(family)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise CalibrationError(f"lane table {path}: cannot read ({e.strerror}); run 'dse hw calibrate "
                               f"--family {family} -o {path}'") from None
    except json.JSONDecodeError as e:
        raise CalibrationError(f"lane table {path}: not JSON ({e})") from None
    table = parse_table(data, path)
    if table.family != family:
        raise CalibrationError(f"lane table {path}: holds family {table.family!r}, expected {family!r}")
    return table


# --- lookup -------------------------------------------------------------------------------

#: structural formula of a family: (w, a, acc, family) -> (lut, ff) per generated module
Formula = Callable[[int, int, int, str], tuple[float, float]]


@lru_cache(maxsize=64)
def _index(family: str) -> tuple[dict, dict]:
    """Rows grouped by (unit, kind, w, a), and each family's cost per accumulator bit
    (keyed (unit, kind, context): the module's counts, or the in-array ones)."""
    table = load_table(family)
    by_key: dict[tuple, list[CalibrationRow]] = {}
    for r in table.rows:
        by_key.setdefault(r.key, []).append(r)
    slopes: dict[tuple[str, str], tuple[float, float, str]] = {}
    for key, rows in by_key.items():
        if len(rows) < 2:
            continue
        lo, hi = min(rows, key=lambda r: r.acc_bits), max(rows, key=lambda r: r.acc_bits)
        d = hi.acc_bits - lo.acc_bits
        for ctx in ("module", "array"):
            fam = (*key[:2], ctx)
            if fam not in slopes and (ctx == "module" or (lo.array_ff is not None and hi.array_ff is not None)):
                (l0, f0), (l1, f1) = lo.counts(ctx), hi.counts(ctx)
                slopes[fam] = ((l1 - l0) / d, (f1 - f0) / d,
                               f"w{key[2]} a{key[3]} acc {lo.acc_bits}..{hi.acc_bits}")
    return by_key, slopes


def lane_price(family: str, unit: str, kind: str, w_bits: int, a_bits: int, acc_bits: int,
               formula: Formula, lanes_per_dsp: int = 0, context: str = "module") -> LanePrice:
    """Price of one lane of ``unit``/``kind`` at ``w_bits`` x ``a_bits`` with an
    ``acc_bits`` accumulator, from the family's calibration table (see module doc).
    ``formula`` gives the family's structural (lut, ff) per module for fits;
    ``lanes_per_dsp`` > 0 divides module counts into per-lane ones (DSP lanes).
    ``context="array"`` prices the lane as an array instantiates it (the row's ``array``
    counts; rows without them give the module's, and ``source`` says so); ``formula``
    must then be the in-array structure too."""
    if context not in ("module", "array"):
        raise ValueError(f"context: must be 'module' or 'array'; got {context!r}")
    by_key, slopes = _index(family)
    rows = by_key.get((unit, kind, w_bits, a_bits))
    per = max(lanes_per_dsp, 1)
    dsp = 1.0 / lanes_per_dsp if lanes_per_dsp else 0.0
    tool = load_table(family).rows[0].tool
    if rows:
        row = min(rows, key=lambda r: (abs(r.acc_bits - acc_bits), -r.acc_bits))
        lut, ff = row.counts(context)
        src = f"synthesis ({tool}, {family}) of {unit}/{kind} w{w_bits} a{a_bits} acc{row.acc_bits}"
        if context == "array":
            src += " in an array" if row.array_ff is not None else " (module counts: no in-array synthesis)"
        if row.acc_bits != acc_bits:
            slope = slopes.get((unit, kind, context)) or slopes.get((unit, kind, "module"))
            if slope is None:  # no slope rows: the structure's own accumulator cost
                fl0, ff0 = formula(w_bits, a_bits, row.acc_bits, family)
                fl1, ff1 = formula(w_bits, a_bits, acc_bits, family)
                lut, ff = lut + fl1 - fl0, ff + ff1 - ff0
                src += f", accumulator moved to {acc_bits} bits by the structural formula"
            else:
                d = acc_bits - row.acc_bits
                lut, ff = lut + slope[0] * d, ff + slope[1] * d
                src += (f", accumulator moved to {acc_bits} bits at {slope[0]:.2f} LUT / {slope[1]:.2f} FF "
                        f"per bit (synthesized {slope[2]})")
        return LanePrice(max(lut, 0.0) / per, max(ff, 0.0) / per, dsp, lanes_per_dsp, src, False)
    cands = [rs for (u, k, _, _), rs in by_key.items() if (u, k) == (unit, kind)]
    if not cands:
        raise CalibrationError(f"lane table {family}: no rows for {unit}/{kind} lanes; "
                               f"run 'dse hw calibrate --family {family}'")

    def dist(rs: list[CalibrationRow]) -> tuple:
        r = rs[0]
        return (abs(math.log2(r.w_bits / w_bits)) + abs(math.log2(r.a_bits / a_bits)), -r.w_bits, -r.a_bits)

    near = min(cands, key=dist)
    row = min(near, key=lambda r: abs(r.acc_bits - acc_bits))
    f_lut0, f_ff0 = formula(row.w_bits, row.a_bits, row.acc_bits, family)
    f_lut, f_ff = formula(w_bits, a_bits, acc_bits, family)
    c_lut, c_ff = row.counts(context)
    r_lut = c_lut / f_lut0 if f_lut0 > 0 else 1.0
    r_ff = c_ff / f_ff0 if f_ff0 > 0 else 1.0
    src = (f"fit: structural formula x synthesis/formula ({r_lut:.2f} LUT, {r_ff:.2f} FF) of "
           f"{unit}/{kind} w{row.w_bits} a{row.a_bits} acc{row.acc_bits}{' in an array' if context == 'array' else ''} "
           f"({tool}, {family})")
    return LanePrice(f_lut * r_lut / per, f_ff * r_ff / per, dsp, lanes_per_dsp, src, True)


def clear_cache() -> None:
    """Forget loaded tables (after writing a new one, or changing ``$DSE_LANE_TABLES``)."""
    load_table.cache_clear()
    _index.cache_clear()


__all__ = ["ACC_GUARD", "CalibrationError", "CalibrationRow", "CalibrationTable", "FAMILIES",
           "FAMILY_OF_DSP", "FORMAT", "LanePrice", "clear_cache", "lane_price", "load_table",
           "parse_table", "table_path"]
