"""The shared core of the array models: fold maths, pricing of one layer, resources.

:mod:`hwmodels.systolic`, :mod:`hwmodels.hetero`, :mod:`hwmodels.bitserial` and
:mod:`hwmodels.termserial` are thin subclasses of :class:`ArrayModel` defined here; this
module imports none of them (imports run one way: models -> core). The pipeline mirrors
SCALE-Sim's (topology -> GEMM -> per-dataflow folds -> memory -> report), in closed form:

1. A layer is ``groups`` GEMMs of ``(M x K) @ (K x N/groups)``.
2. Dataflow ``os`` / ``ws`` / ``is`` maps the GEMM onto an ``R x C`` array as spatial
   rows ``Sr``, spatial columns ``Sc`` and temporal steps ``T`` (SCALE-Sim's
   ``topologies.calc_spatio_temporal_params``): os (M, N, K), ws (K, N, M), is (K, M, N).
3. Stall-free compute cycles per GEMM, exactly SCALE-Sim 3.0.0's "Total Cycles" with
   ``InterfaceBandwidth = CALC`` (derived from ``compute/systolic_compute_{os,ws,is}.py``:
   each fold streams ``T`` operands through a skewed array; os folds fill and drain in
   ``R + C - 2`` cycles, ws/is folds also load the stationary operand in ``R`` cycles;
   SCALE-Sim numbers cycles from 0, hence the final ``- 1``)::

       os: ceil(M/R) * ceil(N/C) * (K +  R + C - 2) - 1
       ws: ceil(K/R) * ceil(N/C) * (M + 2R + C - 2) - 1
       is: ceil(K/R) * ceil(M/C) * (N + 2R + C - 2) - 1

   A serial PE (bit- or term-serial) spends ``dot_cycles`` instead of ``K`` per fold.
   Packed DSP PEs (``L`` MACs per slice, os) put ``C`` columns on ``ceil(C/L)`` PE columns:
   their folds fill in ``R + ceil(C/L) - 2`` (what the generated RTL does; below SCALE-Sim,
   whose PEs are single-MAC).
4. Off-chip traffic (bytes, :mod:`hwmodels.traffic`: only the input pixels a layer
   uses, weights at their stored width) against the *sustained* bandwidth
   (``dram_bandwidth_bytes_per_s x dram_efficiency``): the layer takes
   ``max(compute, memory)`` cycles (a roofline over the layer, operands double-buffered
   so fetch overlaps compute).
5. Energy: datapath energy per MAC (:mod:`hwmodels.arith`), scratchpad and DRAM bits
   (:mod:`hwmodels.energy`), and the device's static power over the latency.
6. Resources: PE lanes (:mod:`hwmodels.arith`), operand skew registers, and block RAM /
   UltraRAM for the three double-buffered scratchpads, checked against the device.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Mapping

from .arith import (SERIAL_UNITS, PECost, accumulator_bits, array_overhead, dot_cycles, exact_fixed_bits, pe_cost, product_bits,
                    row_bit_folds, row_classes, split_row_groups)
from .base import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources,
                   check_fit, schemes_for)
from .devices import Device, catalog_entry, get_device, list_devices
from .energy import EnergyModel
from .formats import QuantScheme
from .metrics import check_row_bits, layer_mac_bits, layer_term_pairs
from .traffic import dram_bytes, ifmap_elems_read, weight_storage_bits
from .workload import LayerSpec, Workload

DATAFLOWS = ("os", "ws", "is")
BUFFER_RAMS = ("bram18", "uram")

#: RAMB18 aspect ratios (width bits, depth): UG473 Table 1-? (7-series) and UG573
#: (UltraScale); 36-bit width only in simple-dual-port mode, which is what a scratchpad
#: (one write port from DRAM, one read port to the array) uses.
BRAM18_ASPECTS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: URAM288: 4K x 72, fixed aspect (UG573).
URAM_ASPECTS = ((72, 4096),)
RAM_BLOCK_BYTES = {"bram18": 18 * 1024 // 8, "uram": 288 * 1024 // 8}
_RAM_ASPECTS = {"bram18": BRAM18_ASPECTS, "uram": URAM_ASPECTS}

#: Zynq-7000 PS DDR3, 32 bits at 1066 MT/s (UG585): the default off-chip (peak) bandwidth.
ZYNQ7_DDR3_BYTES_PER_S = 4.264e9
#: Default sustained fraction of the peak DRAM bandwidth. UG585 (Zynq-7000 TRM), section
#: "DDR Efficiency": the PS DDR controller "was designed to have a maximum efficiency of
#: approximately 75%"; its measured table (4 HP masters, burst 16, DDR3-1050) gives 97 %
#: sequential reads, 87 % sequential reads+writes, 79 % random reads+writes. An
#: accelerator mixes reads (operands) and writes (outputs): 0.75.
DRAM_EFFICIENCY = 0.75


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --- 1-3: compute cycles ---------------------------------------------------------------

def spatio_temporal(dataflow: str, M: int, K: int, N: int) -> tuple[int, int, int]:
    """SCALE-Sim's (Sr, Sc, T) for a GEMM of (M x K) @ (K x N)."""
    try:
        return _MAPPING[dataflow](M, K, N)
    except KeyError:
        raise ValueError(f"dataflow: must be one of {', '.join(DATAFLOWS)}; got {dataflow!r}") from None


_MAPPING = {
    "os": lambda M, K, N: (M, N, K),
    "ws": lambda M, K, N: (K, N, M),
    "is": lambda M, K, N: (K, M, N),
}
_FILL = {
    "os": lambda R, C: R + C - 2,
    "ws": lambda R, C: 2 * R + C - 2,
    "is": lambda R, C: 2 * R + C - 2,
}


def scalesim_cycles(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> int:
    """SCALE-Sim 3.0.0's stall-free "Total Cycles" of one GEMM (see module doc)."""
    return fold_cycles(dataflow, M, K, N, rows, cols)


def fold_cycles(dataflow: str, M: int, K: int, N: int, rows: int, cols: int,
                k_cycles: int | None = None, pack: int = 1) -> int:
    """Compute cycles of one GEMM on a ``rows x cols`` array; 0 for an empty GEMM.

    ``k_cycles`` replaces the temporal extent of an ``os`` fold when a PE needs more than
    one cycle per reduction step (serial units: ``dot_cycles``). ``pack``: MACs per PE
    along a row (``L`` packed DSP lanes sharing one activation, ``os`` only): the array
    still covers ``cols`` output columns per fold, but the wavefront crosses only
    ``ceil(cols / L)`` PE columns, so an os fold fills and drains in ``R + ceil(C/L) - 2``
    cycles (``pack = 1``: SCALE-Sim's single-MAC PEs, ``R + C - 2``)."""
    if M <= 0 or K <= 0 or N <= 0:
        return 0
    sr, sc, t = spatio_temporal(dataflow, M, K, N)
    if k_cycles is not None:
        if dataflow != "os":
            raise ValueError("k_cycles: serial PEs are modelled on the os dataflow only")
        t = k_cycles
    pe_cols = _cdiv(cols, pack) if dataflow == "os" and pack > 1 else cols
    return _cdiv(sr, rows) * _cdiv(sc, cols) * (t + _FILL[dataflow](rows, pe_cols)) - 1


def sram_accesses(dataflow: str, M: int, K: int, N: int, rows: int, cols: int) -> tuple[int, int, int, int]:
    """Scratchpad accesses of one GEMM: (ifmap reads, filter reads, output writes,
    partial-sum reads), in elements.

    os re-reads the ifmap once per column fold and the filters once per row fold;
    ws reads each weight once and writes partial sums once per row (K) fold; is reads each
    input once. The ifmap/filter reads, and the output writes of ws/is, equal SCALE-Sim
    3.0.0's DETAILED_ACCESS_REPORT counts (the parity test checks them)."""
    R, C = rows, cols
    if dataflow == "os":
        return M * K * _cdiv(N, C), K * N * _cdiv(M, R), M * N, 0
    kf = _cdiv(K, R)
    if dataflow == "ws":
        return M * K * _cdiv(N, C), K * N, M * N * kf, M * N * (kf - 1)
    if dataflow == "is":
        return M * K, K * N * _cdiv(M, C), M * N * kf, M * N * (kf - 1)
    raise ValueError(f"dataflow: must be one of {', '.join(DATAFLOWS)}; got {dataflow!r}")


# --- 5: block RAM ------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def ram_blocks(capacity_bytes: int, width_bits: int, ram: str = "bram18") -> int:
    """Blocks of ``ram`` for a buffer of ``capacity_bytes`` read ``width_bits`` per cycle:
    the cheapest aspect ratio of ``ceil(width / w) * ceil(depth / d)``."""
    if capacity_bytes <= 0:
        return 0
    width = max(int(width_bits), 1)
    depth = _cdiv(int(capacity_bytes) * 8, width)
    return min(_cdiv(width, w) * _cdiv(depth, d) for w, d in _RAM_ASPECTS[ram])


# --- the configuration one evaluation prices ---------------------------------------------

@dataclass(frozen=True)
class ArrayConfig:
    """Resolved hardware parameters of an array model (hashable: memoisation key).

    ``cols`` is the array's columns (for the heterogeneous model: the DSP array's);
    ``sp2_cols`` the LUT-based SP2 array's columns (0 for a homogeneous array).
    Derived on construction: ``lanes`` (MAC lanes, the peak MACs per cycle),
    ``bytes_per_cycle`` (sustained off-chip bytes per clock: peak bandwidth x
    ``dram_efficiency`` / clock) and ``sram_j_per_bit`` (scratchpad
    access energy for the chosen RAM block)."""

    unit: str
    rows: int
    cols: int
    dataflow: str
    clock_hz: float
    dsp_gen: str
    energy: EnergyModel
    ifmap_buffer_bytes: int
    weight_buffer_bytes: int
    ofmap_buffer_bytes: int
    buffer_ram: str
    dram_bandwidth_bytes_per_s: float
    static_power_w: float = 0.0
    dram_efficiency: float = 1.0
    serial: str = "weight"
    sp2_cols: int = 0

    def __post_init__(self) -> None:
        # derived constants, and the hash computed once: this object keys every per-layer
        # memo lookup, so it is hashed once per layer per evaluation
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f) for f in self.__dataclass_fields__)))
        object.__setattr__(self, "lanes", self.rows * (self.cols + self.sp2_cols))
        object.__setattr__(self, "bytes_per_cycle", self.dram_bandwidth_bytes_per_s * self.dram_efficiency / self.clock_hz)
        object.__setattr__(self, "sram_j_per_bit", self.energy.sram_j_per_bit(RAM_BLOCK_BYTES[self.buffer_ram]))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True)
class RowPart:
    """Rows of one layer (per group) on one array, in one number format."""

    rows: int
    scheme: QuantScheme
    unit: str
    cols: int


def price_parts(layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig,
                parts: tuple[RowPart, ...], mode: str) -> LayerCost:
    """Price one layer whose rows (per group) are split into ``parts``.

    ``mode``: ``shared`` - the parts run on one array with the same timing, so all rows
    share one set of folds; ``sequential`` - one array, each part its own column folds
    (their cycles per MAC differ); ``parallel`` - each part on its own array at once
    (latency is the slower part; the ifmap stream is broadcast to both)."""
    M, K, Ng, g = layer.M, layer.K, layer.n_per_group, layer.groups
    R, df, em = cfg.rows, cfg.dataflow, cfg.energy
    e_mac = 0.0
    hard_rows = 0
    timing = []
    for p in parts:
        pe = pe_cost(p.unit, p.scheme, K, cfg.dsp_gen, em, cfg.serial)
        e_mac += M * K * p.rows * pe.energy_per_mac_j
        hard_rows += p.rows if pe.hard else 0
        kcyc = dot_cycles(p.unit, p.scheme, K, cfg.serial) if p.unit in SERIAL_UNITS else None
        # packed DSP lanes (L MACs per slice, dsp = 1/L): one PE per L columns (os)
        pack = max(1, round(1 / pe.dsp)) if p.unit == "dsp" and 0 < pe.dsp < 1 else 1
        timing.append((p.rows, p.cols, kcyc, pack))
    if mode == "shared":
        timing = [(Ng, timing[0][1], timing[0][2], min(t[3] for t in timing))]
    cyc, ifr = [], []
    fr = ow = pr = 0
    for rows, cols, kcyc, pack in timing:
        cyc.append(fold_cycles(df, M, K, rows, R, cols, kcyc, pack))
        a, b, c, d = sram_accesses(df, M, K, rows, R, cols)
        ifr.append(a)
        fr, ow, pr = fr + b, ow + c, pr + d
    if mode == "parallel":
        compute = g * max(cyc)
        if_reads = max(ifr)
    else:  # folds follow one another; SCALE-Sim's final -1 counts once per GEMM
        compute = g * (sum(cyc) + len(cyc) - 1)
        if_reads = sum(ifr)

    # weights cross the DRAM interface and sit in the scratchpad at their stored width
    # (term-encoded for term schemes); the ifmap counts only the pixels the layer uses
    wb, ab = weight_storage_bits(scheme), scheme.a_bits
    acc = accumulator_bits(product_bits(scheme), K)
    out_elems = M * Ng
    per_group_dram = dram_bytes(
        ifmap_bytes=ifmap_elems_read(layer) / g * ab / 8.0, weight_bytes=K * Ng * wb / 8.0,
        # os keeps each output's partial sum in its PE for the whole reduction: nothing to spill
        ofmap_bytes=out_elems * ab / 8.0, psum_bytes_each=0.0 if df == "os" else out_elems * acc / 8.0,
        cols_weight_bytes=K * min(cfg.cols + cfg.sp2_cols, Ng) * wb / 8.0,
        ifmap_buf=cfg.ifmap_buffer_bytes, weight_buf=cfg.weight_buffer_bytes,
        ofmap_buf=cfg.ofmap_buffer_bytes)
    offchip = g * per_group_dram
    memory = offchip / cfg.bytes_per_cycle
    cycles = max(float(compute), memory)
    latency = cycles / cfg.clock_hz

    # scratchpad bits: operand reads, partial-sum writes/reads at accumulator width, final
    # outputs at activation width, and every DRAM byte written into a scratchpad once
    sram_bits = g * (if_reads * ab + fr * wb + (ow - out_elems + pr) * acc + out_elems * ab
                     + per_group_dram * 8.0)
    energy = (g * e_mac + sram_bits * cfg.sram_j_per_bit + offchip * 8.0 * em.dram_j_per_bit()
              + cfg.static_power_w * latency)
    macs = layer.macs
    return LayerCost(
        name=layer.name, cycles=cycles, latency_s=latency, energy_j=energy, macs=macs,
        compute_cycles=float(compute), memory_cycles=memory,
        mac_bits=layer_mac_bits(layer, scheme), term_pairs=layer_term_pairs(layer, scheme),
        utilization=macs / (cycles * cfg.lanes) if cycles else 0.0,
        lut_share=(Ng - hard_rows) / Ng, dsp_share=hard_rows / Ng, bytes_offchip=offchip)


@lru_cache(maxsize=1 << 16)
def array_layer_cost(layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> LayerCost:
    """Cost of one layer on a homogeneous array of ``cfg.unit`` lanes (memoised).

    An ``msq`` layer's SP2 and fixed rows are priced as separate row classes: on a
    parallel unit they share the folds (only their energy differs); on a serial unit each
    class gets its own column folds (its cycles per MAC differ).

    A layer with per-row widths (``row_bits``) is priced at its widest row on a parallel
    unit (one multiplier word for all rows); on a serial unit its rows are sorted by width
    and cut into column folds, each lasting its widest row's bits (``arith.row_bit_folds``)."""
    if scheme.row_bits is not None:
        check_row_bits(layer, scheme)
        if cfg.unit in SERIAL_UNITS:
            pieces = split_row_groups(layer, scheme)
            if len(pieces) > 1:
                return merge_costs(layer, [array_layer_cost(l, s, cfg) for l, s in pieces], cfg)
            classes = row_bit_folds(scheme, layer.n_per_group, cfg.cols)
        else:
            classes = ((layer.n_per_group, scheme),)
    else:
        classes = row_classes(scheme, layer.n_per_group)
    parts = tuple(RowPart(n, s, cfg.unit, cfg.cols) for n, s in classes)
    if len(parts) == 1 or cfg.unit not in SERIAL_UNITS:
        return price_parts(layer, scheme, cfg, parts, "shared")
    same = len({dot_cycles(cfg.unit, s, layer.K, cfg.serial) for _, s in classes}) == 1
    return price_parts(layer, scheme, cfg, parts, "shared" if same else "sequential")


def merge_costs(layer: LayerSpec, pieces: list[LayerCost], cfg: ArrayConfig) -> LayerCost:
    """One layer's cost from the costs of sub-layers that run one after another."""
    tot = {f: sum(getattr(c, f) for c in pieces) for f in
           ("cycles", "latency_s", "energy_j", "macs", "compute_cycles", "memory_cycles", "mac_bits",
            "term_pairs", "bytes_offchip")}
    hard = sum(c.dsp_share * c.macs for c in pieces) / tot["macs"] if tot["macs"] else 0.0
    return LayerCost(name=layer.name, utilization=tot["macs"] / (tot["cycles"] * cfg.lanes) if tot["cycles"] else 0.0,
                     lut_share=1.0 - hard, dsp_share=hard, **tot)


# --- resources ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PEEnvelope:
    """The PE an array must instantiate to run every layer: the maximum per-lane LUT, FF
    and DSP over the formats it meets, and the widest operands (for buffers and skew)."""

    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    w_bits: int = 0
    a_bits: int = 0
    acc_bits: int = 0

    def merge(self, pe: PECost, w_bits: int, a_bits: int, acc_bits: int) -> "PEEnvelope":
        return PEEnvelope(max(self.lut, pe.lut), max(self.ff, pe.ff), max(self.dsp, pe.dsp),
                          max(self.w_bits, w_bits), max(self.a_bits, a_bits),
                          max(self.acc_bits, acc_bits))


@lru_cache(maxsize=4096)
def pe_envelope(unit: str, uses: frozenset[tuple[int, QuantScheme]], dsp_gen: str,
                energy: EnergyModel, serial: str) -> PEEnvelope:
    """Envelope of ``unit`` lanes over ``uses`` = (reduction K, scheme) pairs."""
    # the column-wise max over the uses' (lut, ff, dsp, w, a, acc), from 0: the same
    # values, in the same order, as folding PEEnvelope.merge over ``uses``
    memo = _pe_use_memo(unit, dsp_gen, energy, serial)
    if len(memo) > _PE_USE_MEMO_SIZE:
        memo.clear()
    vals = []
    for use in uses:
        v = memo.get(use)
        if v is None:
            v = memo[use] = _pe_use(unit, use[0], use[1], dsp_gen, energy, serial)
        vals.append(v)
    if not vals:
        return PEEnvelope()
    start = (0.0, 0.0, 0.0, 0, 0, 0)
    return PEEnvelope(*(max(z, *col) for z, col in zip(start, zip(*vals))))


#: Most (K, scheme) entries one :func:`_pe_use_memo` dict holds before it is emptied.
_PE_USE_MEMO_SIZE = 8192


@lru_cache(maxsize=64)
def _pe_use_memo(unit: str, dsp_gen: str, energy: EnergyModel, serial: str) -> dict:
    """(K, scheme) -> :func:`_pe_use` for one PE context: its key is hashed once per
    envelope, not once per use (an EnergyModel hash walks all its fields)."""
    return {}


def _pe_use(unit: str, K: int, s: QuantScheme, dsp_gen: str, energy: EnergyModel,
            serial: str) -> tuple[float, float, float, int, int, int]:
    """One use's contribution to :func:`pe_envelope`: (lut, ff, dsp, w, a, acc bits)."""
    pe = pe_cost(unit, s, K, dsp_gen, energy, serial)
    # shift PEs store and stream pow2/sp2 weights as their codes (sign + exponents:
    # 13 SP2 levels fit a 4-bit code); multipliers need the exact fixed-point word
    w = s.w_bits if unit == "shift" and s.kind in ("pow2", "sp2") else exact_fixed_bits(s.kind, s.w_bits)
    return pe.lut, pe.ff, pe.dsp, w, s.a_bits, accumulator_bits(product_bits(s), K)


def array_resources(rows: int, cols: int, env: PEEnvelope, dataflow: str,
                    left_skew: bool = True) -> Resources:
    """LUT/FF/DSP of an ``rows x cols`` array of ``env`` lanes plus its skew registers.

    Systolic operands enter skewed: the edge that streams a new operand into each row
    (column) every cycle needs a triangular register file, ``R(R-1)/2`` (``C(C-1)/2``)
    operand registers. os skews ifmap rows and filter columns; ws skews ifmap rows and
    de-skews partial sums leaving the columns; is skews filter rows and de-skews sums.
    ``left_skew=False`` for a second array fed by the first one's skewed row stream.
    Plus the output path: os column registers, row select and output de-skew; ws/is the
    read-modify-write adders and registers of the partial-sum scratchpad."""
    lanes = rows * cols
    tri_r, tri_c = rows * (rows - 1) // 2, cols * (cols - 1) // 2
    left = env.a_bits if dataflow in ("os", "ws") else env.w_bits
    top = env.w_bits if dataflow == "os" else env.acc_bits
    dsp = math.ceil(lanes * env.dsp - 1e-9) if env.dsp else 0
    ff = lanes * env.ff + (tri_r * left if left_skew else 0) + tri_c * top
    lut = lanes * env.lut
    # output path (as hwmodels/rtl/array.py builds it, calibrated with `dse hw synth`):
    # os selects each finished accumulator into a column register (one-hot R:1 and-or,
    # ~3 pairs per LUT6) and de-skews the P = C/L PE columns (L MACs per packed DSP slice);
    # ws/is pipeline the read-modify-write of partial sums (register + adder per column)
    if dataflow == "os":
        per_slice = max(1, round(1 / env.dsp)) if 0 < env.dsp < 1 else 1
        pe_cols = max(1, cols // per_slice)
        ff += cols * env.acc_bits + pe_cols * (pe_cols - 1) // 2 * per_slice * env.acc_bits
        lut += cols * env.acc_bits * math.ceil(rows / 3)
    else:
        ff += cols * env.acc_bits
        lut += cols * env.acc_bits
    return Resources(lut=lut, ff=ff, dsp=float(dsp))


def overhead_resources(cfg: ArrayConfig, env: PEEnvelope) -> Resources:
    """Fabric outside the lanes: one sequencer (loop counters, address generators) and a
    requantisation unit per output column (``arith.array_overhead``, calibrated)."""
    o = array_overhead(cfg.cols + cfg.sp2_cols, env.a_bits, env.acc_bits, cfg.dsp_gen)
    return Resources(lut=o.lut, ff=o.ff)


def buffer_resources(cfg: ArrayConfig, env: PEEnvelope) -> Resources:
    """Blocks for the three scratchpads, each as wide as the array edge it feeds:
    os: ifmap R x a, filters C x w, outputs C x a; ws: ifmap R x a, filters C x w,
    partial sums C x acc; is: filters R x w, ifmap C x a, partial sums C x acc."""
    R, C = cfg.rows, cfg.cols + cfg.sp2_cols
    if cfg.dataflow == "os":
        widths = (R * env.a_bits, C * env.w_bits, C * env.a_bits)
    elif cfg.dataflow == "ws":
        widths = (R * env.a_bits, C * env.w_bits, C * env.acc_bits)
    else:
        widths = (C * env.a_bits, R * env.w_bits, C * env.acc_bits)
    caps = (cfg.ifmap_buffer_bytes, cfg.weight_buffer_bytes, cfg.ofmap_buffer_bytes)
    blocks = sum(ram_blocks(c, w, cfg.buffer_ram) for c, w in zip(caps, widths))
    return Resources(bram18=float(blocks)) if cfg.buffer_ram == "bram18" else Resources(uram=float(blocks))


# --- the model family --------------------------------------------------------------------

def common_knobs() -> list[Knob]:
    return [
        Knob("device", "categorical", "XC7Z045", choices=list_devices(), search=False,
             doc="target FPGA (hwmodels.devices catalog)"),
        Knob("clock_hz", "float", 200e6, low=10e6, high=1e9, log=True, unit="Hz",
             doc="accelerator clock"),
        Knob("rows", "int", 16, low=1, high=512, log=True, doc="array rows (R)"),
        Knob("ifmap_buffer_bytes", "int", 64 * 1024, low=1024, high=64 * 1024 * 1024, log=True,
             unit="B", doc="input-activation scratchpad, double-buffered"),
        Knob("weight_buffer_bytes", "int", 64 * 1024, low=1024, high=64 * 1024 * 1024, log=True,
             unit="B", doc="weight scratchpad, double-buffered"),
        Knob("ofmap_buffer_bytes", "int", 32 * 1024, low=1024, high=64 * 1024 * 1024, log=True,
             unit="B", doc="output / partial-sum scratchpad, double-buffered"),
        Knob("buffer_ram", "categorical", "bram18", choices=BUFFER_RAMS, search=False,
             doc="scratchpads in 18 Kb block RAM or 288 Kb UltraRAM"),
        Knob("dram_bandwidth_bytes_per_s", "float", ZYNQ7_DDR3_BYTES_PER_S, low=1e8, high=1e13,
             log=True, unit="B/s", search=False,
             doc="peak off-chip bandwidth (default: Zynq-7000 DDR3-1066 x32); 1e13 is ideal"),
        Knob("dram_efficiency", "float", DRAM_EFFICIENCY, low=0.01, high=1.0, search=False,
             doc="sustained fraction of the peak DRAM bandwidth (default 0.75: UG585 DDR "
                 "efficiency); 1 = peak"),
        Knob("tech_node_nm", "float", 0.0, low=0.0, high=180.0, unit="nm", search=False,
             doc="process node for energy scaling; 0 = the device's own"),
        Knob("static_power_w", "float", -1.0, low=-1.0, high=200.0, unit="W", search=False,
             doc="static power charged over the latency: -1 = the device's own figure "
                 "(hwmodels.devices), 0 = ignore, > 0 = this many watts (e.g. from XPE)"),
    ]


def static_power(knob_w: float, device: Device) -> float:
    """Watts of static power to charge: the knob when it is >= 0, else the device's."""
    return knob_w if knob_w >= 0 else device.static_power_w


def clock_violation(clock_hz: float, device: Device) -> tuple[str, ...]:
    """The clock above the device's Fmax bound, as a fit violation (empty when it fits)."""
    if device.fmax_hz and clock_hz > device.fmax_hz:
        return (f"clock_hz: {clock_hz / 1e6:.0f} MHz > {device.fmax_hz / 1e6:.0f} MHz "
                f"(Fmax bound of {device.name}, -1 speed grade)",)
    return ()


class ArrayModel(HardwareModel):
    """Shared machinery of the array models (systolic, bitserial, termserial, hetero).

    Constructor keyword arguments override knob defaults (validated), e.g.
    ``SystolicModel(rows=32, device="XCZU9EG")``. Subclasses declare ``_extra_knobs`` and
    ``_config``; the heterogeneous model also overrides ``_price`` and ``_resources``.
    """

    def __init__(self, **defaults: Any):
        base = {k.name: k for k in self._all_knobs()}
        for name in defaults:
            if name not in base:
                raise ValueError(f"{name}: unknown knob for hardware model '{self.name}'; "
                                 f"knobs: {', '.join(sorted(base))}")
        self._defaults = {n: base[n].validate(v) for n, v in defaults.items()}

    # knobs ---------------------------------------------------------------------------

    def _extra_knobs(self) -> list[Knob]:
        return []

    def _all_knobs(self) -> list[Knob]:
        return common_knobs() + self._extra_knobs()

    def knobs(self) -> tuple[Knob, ...]:
        devices = list_devices()  # a device registered later joins the `device` knob
        cached = getattr(self, "_knobs", None)
        if cached is None or cached[0] != devices:
            out = []
            for k in self._all_knobs():
                if k.name in self._defaults:
                    k = replace(k, default=self._defaults[k.name])
                out.append(k)
            cached = self._knobs = (devices, tuple(out))
        return cached[1]

    # evaluation ------------------------------------------------------------------------

    def _config(self, kv: Mapping[str, Any]) -> ArrayConfig:
        raise NotImplementedError

    def _base_config(self, kv: Mapping[str, Any], **fields: Any) -> ArrayConfig:
        device = get_device(kv["device"])
        return ArrayConfig(
            rows=int(kv["rows"]), clock_hz=float(kv["clock_hz"]), dsp_gen=device.dsp_gen,
            energy=EnergyModel.for_device(device, float(kv["tech_node_nm"])),
            ifmap_buffer_bytes=int(kv["ifmap_buffer_bytes"]),
            weight_buffer_bytes=int(kv["weight_buffer_bytes"]),
            ofmap_buffer_bytes=int(kv["ofmap_buffer_bytes"]), buffer_ram=str(kv["buffer_ram"]),
            dram_bandwidth_bytes_per_s=float(kv["dram_bandwidth_bytes_per_s"]),
            dram_efficiency=float(kv["dram_efficiency"]),
            static_power_w=static_power(float(kv["static_power_w"]), device), **fields)

    def _price(self, layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> LayerCost:
        return array_layer_cost(layer, scheme, cfg)

    def _resources(self, pairs: tuple[tuple[LayerSpec, QuantScheme], ...], cfg: ArrayConfig) -> Resources:
        uses = frozenset((l.K, s) for l, s0 in pairs for _, s in row_classes(s0, l.n_per_group))
        env = pe_envelope(cfg.unit, uses, cfg.dsp_gen, cfg.energy, cfg.serial)
        return (array_resources(cfg.rows, cfg.cols, env, cfg.dataflow) + overhead_resources(cfg, env)
                + buffer_resources(cfg, env))

    def _config_for(self, kv: Mapping[str, Any]) -> ArrayConfig:
        key = tuple(kv.items())
        cache = self.__dict__.setdefault("_configs", {})
        cfg = cache.get(key)
        if cfg is None:
            if len(cache) > 4096:
                cache.clear()
            cfg = cache[key] = self._config(kv)
        return cfg

    def evaluate(self, workload: Workload, point: DesignPoint) -> HwReport:
        # whole-evaluation memo (bounded LRU, see _REPORTS): a point evaluated again on the
        # same workload object returns the same (immutable) report; an entry also holds
        # the device it priced, and is used only while the catalog still has that device
        try:
            key = _MemoKey(id(self), id(workload), point)
        except TypeError:  # an unhashable knob value: let validation name it
            return self._evaluate(workload, point)[0]
        with _REPORTS_LOCK:
            hit = _REPORTS.get(key)
            if hit is not None and hit[0] is self and hit[1] is workload and catalog_entry(hit[3]) is hit[4]:
                _REPORTS.move_to_end(key)
                return hit[2]
        report, device = self._evaluate(workload, point)
        with _REPORTS_LOCK:
            _REPORTS[key] = (self, workload, report, device.name.upper(), device)
            while len(_REPORTS) > REPORT_MEMO_SIZE:
                _REPORTS.popitem(last=False)
        return report

    def _evaluate(self, workload: Workload, point: DesignPoint) -> tuple[HwReport, Device]:
        kv = self.resolve_knobs(point)
        cfg = self._config_for(kv)
        pairs = tuple(schemes_for(workload, point))
        if not pairs:
            raise ValueError(f"workload {workload.name!r}: no compute layers to price")
        layers = tuple(self._price(layer, scheme, cfg) for layer, scheme in pairs)
        resources = self._resources(pairs, cfg)
        device = get_device(kv["device"])
        capacity = device.capacity
        memory_bound = sum(1 for l in layers if l.memory_cycles > l.compute_cycles)
        notes = ("resources count the lanes, skew registers, control/address generation, "
                 "requantisation and scratchpads (no DMA or interconnect; no routing or timing)",)
        if memory_bound:
            notes += (f"{memory_bound} of {len(layers)} layers are bound by off-chip bandwidth",)
        return HwReport(model=self.name, device=device.name, clock_hz=cfg.clock_hz, layers=layers,
                        resources=resources, capacity=capacity,
                        violations=check_fit(resources, capacity) + clock_violation(cfg.clock_hz, device),
                        notes=notes,
                        peak_macs_per_cycle=float(cfg.lanes)), device




# --- memo caches -------------------------------------------------------------------------

#: Most whole-evaluation reports kept (least recently used dropped first). Keyed on
#: (model, workload) identity and the point's value; each entry holds its model and
#: workload, so an id is never reused while its entry lives.
REPORT_MEMO_SIZE = 512
_REPORTS: OrderedDict[_MemoKey, tuple[Any, ...]] = OrderedDict()
_REPORTS_LOCK = threading.Lock()


class _MemoKey:
    """(model id, workload id, point, knob value types) with the hash computed once (a
    point's hash walks every layer's scheme; a lookup and an insert would otherwise hash
    it twice). The types keep apart knob values that compare equal but do not validate
    alike (``True == 1``, and a bool is no int knob value)."""

    __slots__ = ("model", "workload", "point", "types", "_hash")

    def __init__(self, model: int, workload: int, point: DesignPoint):
        self.model, self.workload, self.point = model, workload, point
        self.types = tuple(type(v) for _, v in point.knobs)
        self._hash = hash((model, workload, point))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _MemoKey) and self.model == other.model and self.workload == other.workload
                and self.types == other.types and self.point == other.point)


_CACHES: list[Callable[..., Any]] = []


def register_cache(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add an ``lru_cache``-wrapped function of a model module to :func:`clear_caches`
    (a model module registers its own memo here, so the core never imports it)."""
    _CACHES.append(fn)
    return fn


def clear_caches() -> None:
    """Forget memoised per-layer costs (benchmarks use it to time cold evaluations)."""
    from . import arith
    with _REPORTS_LOCK:
        _REPORTS.clear()
    for fn in (array_layer_cost, pe_envelope, _pe_use_memo, ram_blocks, arith.pe_cost,
               arith.product_bits, arith.fixed_dsp, arith.fixed_lut, arith.lane_cost,
               arith.lane_module_price, arith.array_overhead,
               arith.pow2_shift, arith.sp2_shift, arith.bitserial, arith.termserial,
               arith.row_classes, arith.row_bit_folds, arith.split_row_groups, *_CACHES):
        fn.cache_clear()
