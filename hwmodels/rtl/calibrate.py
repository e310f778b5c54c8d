"""Build a lane calibration table by synthesizing generated lanes, and check the model
against fresh synthesis (``dse hw calibrate``).

The grid (:func:`calibration_grid`) covers every lane family at a spread of widths, each
at the reference accumulator width (product bits + :data:`~hwmodels.calibration.ACC_GUARD`),
plus one lane per family at two more accumulator widths (the measured cost per
accumulator bit). :func:`check_lanes` lists lanes *off* that grid (other widths, other
accumulators) so ``--check`` tests the fits, not the rows they were read from.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from ..calibration import ACC_GUARD, SLOPE_DELTAS, CalibrationRow, CalibrationTable
from .lanes import DSP_GENS, LaneConfig, generate, in_array
from .synth import SynthResult, synthesize

_W5, _A3 = (2, 3, 4, 6, 8), (2, 4, 8)

#: (unit, kind) -> (w, a) widths synthesized for the shipped tables
GRID: dict[tuple[str, str], tuple[tuple[int, int], ...]] = {
    # Yosys's LUT multipliers are irregular in width (5x3 -> 130 LUTs > 6x4 -> 122): every
    # width up to 8 is synthesized rather than fitted
    ("lut", "fixed"): tuple((w, a) for w in range(2, 9) for a in range(2, 9)) + ((12, 8), (16, 16)),
    ("dsp", "fixed"): tuple((w, a) for w in _W5 for a in _A3) + ((12, 8), (16, 16)),
    ("shift", "pow2"): tuple((w, a) for w in (2, 3, 4, 5, 6) for a in _A3),  # the whole pow2 range
    ("shift", "sp2"): tuple((w, a) for w in _W5 for a in _A3),
    ("term", "term"): tuple((w, a) for w in (2, 4, 8) for a in _A3),
    ("bit", "weight"): tuple((w, a) for w in (2, 4, 8) for a in _A3),
    ("bit", "both"): tuple((w, a) for w in (2, 4, 8) for a in _A3),
    ("requant", "fixed"): tuple((a, a) for a in _A3),
    ("control", "fixed"): ((8, 8),),
}
#: lanes off the grid, spread over families and widths, for ``--check`` (first K taken)
CHECK_LANES: tuple[tuple[str, str, int, int, int], ...] = (
    # unit, kind, w, a, accumulator bits above the reference (0 = reference)
    ("lut", "fixed", 5, 3, 0), ("shift", "sp2", 5, 4, 0), ("dsp", "fixed", 6, 5, 0),
    ("shift", "pow2", 4, 6, 0), ("term", "term", 3, 6, 0), ("bit", "weight", 6, 3, 0),
    ("bit", "both", 3, 5, 0), ("lut", "fixed", 6, 6, 4), ("dsp", "fixed", 8, 8, -4),
    ("shift", "sp2", 4, 4, 5), ("requant", "fixed", 6, 6, 0), ("lut", "fixed", 3, 8, 0),
    ("dsp", "fixed", 4, 3, 0), ("shift", "pow2", 3, 3, 0), ("term", "term", 6, 4, 0),
    ("bit", "weight", 8, 6, 2), ("lut", "fixed", 8, 5, 0), ("shift", "sp2", 6, 6, -3),
    ("lut", "fixed", 10, 6, 0), ("dsp", "fixed", 10, 10, 0), ("shift", "pow2", 6, 4, 0),
    ("term", "term", 12, 8, 0),
)


def reference_acc_bits(unit: str, kind: str, w_bits: int, a_bits: int) -> int:
    """Accumulator width of a family's reference row: the model's product bits + guard."""
    from ..arith import exact_fixed_bits

    if unit == "requant":
        return 2 * a_bits + ACC_GUARD
    if unit == "control":
        return a_bits + 1
    fmt = kind if kind in ("pow2", "sp2") else "fixed"
    return exact_fixed_bits(fmt, w_bits) + a_bits + ACC_GUARD


def calibration_grid(family: str) -> list[LaneConfig]:
    """Every lane the shipped table of ``family`` synthesizes, in a fixed order."""
    out = []
    for (unit, kind), widths in GRID.items():
        for w, a in widths:
            acc = reference_acc_bits(unit, kind, w, a)
            out.append(LaneConfig(unit, kind, w, a, acc, family))
        if unit != "control":
            w, a = (4, 4) if (4, 4) in widths else widths[len(widths) // 2]
            acc = reference_acc_bits(unit, kind, w, a)
            out.extend(LaneConfig(unit, kind, w, a, acc + d, family) for d in SLOPE_DELTAS)
    return out


def check_configs(family: str, k: int) -> list[LaneConfig]:
    """The first ``k`` lanes of :data:`CHECK_LANES` for ``family``."""
    out = []
    for unit, kind, w, a, d in CHECK_LANES[:k]:
        out.append(LaneConfig(unit, kind, w, a, reference_acc_bits(unit, kind, w, a) + d, family))
    return out


def synth_lane(cfg: LaneConfig) -> SynthResult:
    """Generate and synthesize one lane (DSP inference only for DSP lanes)."""
    return synthesize(generate(cfg), cfg.top, cfg.family, use_dsp=cfg.use_dsp)


def synth_lane_in_array(cfg: LaneConfig) -> SynthResult:
    """Synthesize the lane as an array instantiates it (:func:`hwmodels.rtl.lanes.in_array`)."""
    text, top = in_array(cfg)
    return synthesize(text, top, cfg.family, use_dsp=cfg.use_dsp)


#: families whose rows also record the lane as an array instantiates it: DSP lanes, whose
#: forwarded operands may ride in the neighbour slice's input registers (fabric lanes keep
#: them as fabric registers either way)
IN_ARRAY_UNITS = ("dsp",)


def with_in_array(rows: list[CalibrationRow], cfgs: list[LaneConfig], jobs: int = 2,
                  progress: Callable[[str], None] | None = None) -> list[CalibrationRow]:
    """``rows`` with the in-array counts of their :data:`IN_ARRAY_UNITS` lanes added
    (one more synthesis each; ``cfgs[i]`` is the lane of ``rows[i]``)."""
    todo = [i for i, c in enumerate(cfgs) if c.unit in IN_ARRAY_UNITS]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(synth_lane_in_array, [cfgs[i] for i in todo]))
    out = list(rows)
    for i, res in zip(todo, results):
        out[i] = replace(rows[i], array_lut=float(res.lut), array_ff=float(res.ff), array_top=res.top,
                         array_rtl_sha256=res.rtl_sha256)
        if progress:
            progress(f"{res.top} ({cfgs[i].family}): {res.lut} LUT, {res.ff} FF, {res.dsp} DSP in an array")
    return out


def add_in_array(table: CalibrationTable, jobs: int = 2,
                 progress: Callable[[str], None] | None = None) -> CalibrationTable:
    """A shipped table with the in-array counts added to its DSP rows (the module counts
    are kept as they are: the lane RTL is the same)."""
    cfgs = [LaneConfig(r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits, table.family) for r in table.rows]
    return CalibrationTable(table.family, tuple(with_in_array(list(table.rows), cfgs, jobs, progress)))


def published_figures(cfg: LaneConfig) -> dict:
    """Vivado/FINN-published figures for the same lane, where one exists (kept beside
    the Yosys counts so a user sees both)."""
    import math

    from ..arith import dsp_packing

    if (cfg.unit, cfg.kind) == ("lut", "fixed"):
        W, A = cfg.w_bits, cfg.a_bits
        lut = 1.1 * ((2 * math.ceil((W + A) / 6) - 1) * (W + A) + (W + A) + cfg.acc_bits)
        return {"lut": round(lut, 1), "source": (
            "FINN-R LUT estimate (Blott et al., ACM TRETS 2018; FINN MVAU lut_estimation) for one "
            "PE x one SIMD lane: 1.1 x ((2 ceil((W+A)/6) - 1)(W+A) + (W+A) + acc), without its "
            "300-LUT per-layer constant; fitted to Vivado results")}
    if cfg.unit != "dsp":
        return {}
    lanes, spacing = dsp_packing(DSP_GENS[cfg.family], cfg.w_bits, cfg.a_bits)
    if lanes == 1:
        return {"lut": 0, "ff": 0, "dsp": 1, "source": (
            f"{DSP_GENS[cfg.family]} user guide (UG479/UG579): the multiply-accumulate maps to one "
            "slice with the accumulator in the 48-bit P register and operands in the A/B registers "
            "(what Vivado infers)")}
    if cfg.w_bits == 8 and cfg.a_bits == 8:
        return {"lanes_per_dsp": 2, "source": (
            "FINN finn-rtllib/mvu/mvu_8sx8u_dsp48.sv: two 8-bit signed x 8-bit unsigned products per "
            "DSP48E1/E2, lanes 16 bits apart, low lane accumulated in P with a fabric high-part "
            "accumulator and 2-bit canary per slice")}
    if cfg.w_bits == 4 and cfg.a_bits == 4 and cfg.family == "xcup":
        return {"lanes_per_dsp": 4, "source": (
            "FINN finn-rtllib/mvu/mvu_4sx4u.sv and Xilinx WP521: four 4-bit products per DSP48E2, "
            "lanes 0/8/15/22 (overlapping, repaired by canary LUTs); our generator packs 3")}
    return {}


def build_table(family: str, progress: Callable[[str], None] | None = None,
                jobs: int = 2, configs: Iterable[LaneConfig] | None = None) -> CalibrationTable:
    """Synthesize the grid (or ``configs``) for ``family`` and return the table."""
    from ..arith import dsp_packing

    cfgs = list(configs) if configs is not None else calibration_grid(family)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each job is a yosys process
        results = list(pool.map(synth_lane, cfgs))
    rows = []
    for cfg, res in zip(cfgs, results):
        lanes = dsp_packing(DSP_GENS[family], cfg.w_bits, cfg.a_bits)[0] if cfg.unit == "dsp" else 0
        rows.append(CalibrationRow(
            unit=cfg.unit, kind=cfg.kind, w_bits=cfg.w_bits, a_bits=cfg.a_bits, acc_bits=cfg.acc_bits,
            lut=float(res.lut), ff=float(res.ff), dsp=float(res.dsp), lanes_per_dsp=lanes,
            tool=res.tool, command=res.command, rtl_sha256=res.rtl_sha256,
            published=tuple(sorted(published_figures(cfg).items()))))
        if progress:
            progress(f"{cfg.top} ({family}): {res.lut} LUT, {res.ff} FF, {res.dsp} DSP")
    return CalibrationTable(family, tuple(with_in_array(rows, cfgs, jobs, progress)))


@dataclass(frozen=True)
class CheckRow:
    """Model vs fresh synthesis of one lane module, one resource."""

    lane: str
    unit: str
    kind: str
    w_bits: int
    a_bits: int
    acc_bits: int
    resource: str
    model: float
    synth: float
    source: str

    @property
    def rel_error(self) -> float:
        """|model - synth| / synth (0 when both are 0; |model| when synth is 0)."""
        if self.synth:
            return abs(self.model - self.synth) / abs(self.synth)
        return abs(self.model)

    def to_dict(self) -> dict:
        return {"lane": self.lane, "unit": self.unit, "kind": self.kind, "w_bits": self.w_bits,
                "a_bits": self.a_bits, "acc_bits": self.acc_bits, "resource": self.resource,
                "model": self.model, "synth": self.synth, "rel_error": self.rel_error,
                "source": self.source}


def check(family: str, k: int, jobs: int = 2) -> list[CheckRow]:
    """Re-synthesize ``k`` off-grid lanes and compare with the model's module price."""
    from ..arith import lane_module_price

    cfgs = check_configs(family, k)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(synth_lane, cfgs))
    out = []
    for cfg, res in zip(cfgs, results):
        price = lane_module_price(family, cfg.unit, cfg.kind, cfg.w_bits, cfg.a_bits, cfg.acc_bits)
        for name, m, s in (("lut", price.lut, res.lut), ("ff", price.ff, res.ff), ("dsp", price.dsp, res.dsp)):
            out.append(CheckRow(cfg.top, cfg.unit, cfg.kind, cfg.w_bits, cfg.a_bits, cfg.acc_bits,
                                name, float(m), float(s), price.source))
    return out


__all__ = ["CHECK_LANES", "GRID", "IN_ARRAY_UNITS", "CheckRow", "add_in_array", "build_table",
           "calibration_grid", "check",
           "check_configs", "published_figures", "reference_acc_bits", "synth_lane", "synth_lane_in_array",
           "with_in_array"]
