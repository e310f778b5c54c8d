"""One layer priced on an array: the resolved configuration an evaluation prices
(:class:`ArrayConfig`), cycles (:mod:`hwmodels.array_folds`) against the off-chip
roofline, and energy (steps 4-5 of the pipeline :mod:`hwmodels.array_core` documents; it
re-exports these names).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .arith import (SERIAL_UNITS, accumulator_bits, dot_cycles, pe_cost, product_bits, row_bit_folds, row_classes,
                    split_row_groups)
from .array_fabric import RAM_BLOCK_BYTES
from .array_folds import fold_cycles, sram_accesses
from .base import LayerCost
from .energy import EnergyModel
from .formats import QuantScheme
from .metrics import check_row_bits, layer_mac_bits, layer_term_pairs
from .traffic import dram_bytes, ifmap_elems_read, weight_storage_bits
from .workload import LayerSpec


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
    #: MACs per PE of the whole (DSP) array: packed DSP lanes at the widest formats the
    #: array meets (:func:`envelope_pack`; the generated array has one PE for all layers);
    #: 0 = each layer at its own packing (a configuration priced without its workload)
    pack: int = 0

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
        # packed DSP lanes (L MACs per slice, dsp = 1/L): one PE per L columns (os); the
        # array packs at its envelope's L (cfg.pack), the same for every layer it runs
        pack = (cfg.pack or max(1, round(1 / pe.dsp))) if p.unit == "dsp" and 0 < pe.dsp < 1 else 1
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


__all__ = ["ArrayConfig", "RowPart", "array_layer_cost", "merge_costs", "price_parts"]
