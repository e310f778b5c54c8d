"""One layer priced on an array: the resolved configuration an evaluation prices
(:class:`ArrayConfig`), cycles (:mod:`hwmodels.array_folds`) against the off-chip
roofline, and energy (steps 4-5 of the pipeline :mod:`hwmodels.array_core` documents; it
re-exports these names).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from .arith import (SERIAL_UNITS, accumulator_bits, dot_cycles, pe_cost, product_bits, row_bit_folds, row_classes,
                    split_row_groups)
from .array_fabric import RAM_BLOCK_BYTES
from .array_folds import fold_cycles, sram_accesses
from .base import DesignPoint, LayerCost
from .energy import EnergyModel
from .formats import QuantScheme
from .metrics import check_row_bits, layer_mac_bits, layer_term_pairs
from .traffic import dram_bytes, ifmap_elems_read, weight_storage_bits
from .workload import LayerSpec, Workload


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

    def with_pack(self, pack: int) -> "ArrayConfig":
        """This configuration with ``pack`` MACs per PE (``dataclasses.replace(self,
        pack=pack)``, which would re-derive the constants: none depends on ``pack``)."""
        new = object.__new__(ArrayConfig)
        state = new.__dict__
        state.update(self.__dict__)
        state["pack"] = pack
        state["_hash"] = hash(tuple(state[f] for f in self.__dataclass_fields__))
        return new


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
    return LayerCost.of(  # name, cycles, latency_s, energy_j, macs, compute_cycles, memory_cycles,
        # mac_bits, term_pairs, utilization, lut_share, dsp_share, bytes_offchip
        layer.name, cycles, latency, energy, macs, float(compute), memory,
        layer_mac_bits(layer, scheme), layer_term_pairs(layer, scheme),
        macs / (cycles * cfg.lanes) if cycles else 0.0, (Ng - hard_rows) / Ng, hard_rows / Ng, offchip)


# --- the per-layer memo -------------------------------------------------------------------

#: what :meth:`LayerMemo.cache_info` returns (the fields of ``functools.lru_cache``'s)
CacheInfo = namedtuple("CacheInfo", "hits misses maxsize currsize")

_LAYER_TOKENS: dict[LayerSpec, int] = {}
_TOKEN_COUNT = itertools.count()
#: most distinct layers given a token before the table is emptied (tokens are never reused,
#: so an emptied table only costs memo misses)
LAYER_TOKENS_SIZE = 1 << 16


def layer_token(layer: LayerSpec) -> int:
    """A small int standing for ``layer``'s value (equal layers, one token): per-layer
    memo keys hold it instead of the layer, whose hash walks 14 fields."""
    tok = _LAYER_TOKENS.get(layer)
    if tok is None:
        if len(_LAYER_TOKENS) >= LAYER_TOKENS_SIZE:
            _LAYER_TOKENS.clear()
        tok = _LAYER_TOKENS.setdefault(layer, next(_TOKEN_COUNT))
    return tok


class LayerMemo:
    """A per-layer cost function ``fn(layer, scheme, cfg)`` with a bounded memo, and
    ``cache_info`` / ``cache_clear`` as ``functools.lru_cache`` has them.

    Entries are kept per configuration (``cfg -> {(layer token, scheme): cost}``), so an
    evaluation hashes its configuration once (:meth:`table`) and each layer's key is a
    ``(token, scheme)`` pair. Past ``maxsize`` entries the oldest go first (the oldest
    configuration's oldest entries). :class:`~hwmodels.array_core.ArrayModel` reads and
    stores entries directly (:meth:`table`, :meth:`put_many`) so that the misses of one
    evaluation can be priced together (:mod:`hwmodels.array_vector`)."""

    def __init__(self, fn: Callable[[LayerSpec, QuantScheme, ArrayConfig], LayerCost], maxsize: int = 1 << 16):
        self.fn, self.maxsize = fn, maxsize
        self.__wrapped__, self.__doc__, self.__name__ = fn, fn.__doc__, fn.__name__
        self._data: OrderedDict[ArrayConfig, OrderedDict[tuple, LayerCost]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __call__(self, layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> LayerCost:
        key = (layer_token(layer), scheme)
        cost = self._data.get(cfg, _EMPTY).get(key)
        if cost is not None:
            self.hits += 1
            return cost
        cost = self.fn(layer, scheme, cfg)
        self.put_many(cfg, ((key, cost),))
        return cost

    def table(self, cfg: ArrayConfig) -> Mapping[tuple, LayerCost]:
        """``(layer token, scheme) -> cost`` of ``cfg`` (read only; empty when none)."""
        return self._data.get(cfg, _EMPTY)

    def get(self, key: tuple) -> LayerCost | None:
        """The cost under ``(layer token, scheme, cfg)``, or None."""
        tok, scheme, cfg = key
        return self._data.get(cfg, _EMPTY).get((tok, scheme))

    def put(self, key: tuple, cost: LayerCost) -> None:
        tok, scheme, cfg = key
        self.put_many(cfg, (((tok, scheme), cost),))

    def put_many(self, cfg: ArrayConfig, items) -> None:
        """Store ``((layer token, scheme), cost)`` pairs of ``cfg``, dropping the oldest
        entries past ``maxsize``."""
        items = list(items)
        if not items:
            return
        with self._lock:
            table = self._data.get(cfg)
            if table is None:
                table = self._data[cfg] = OrderedDict()
            n = len(table)
            table.update(items)
            added = len(table) - n
            self._size += added
            self.misses += added
            while self._size > self.maxsize:
                old_cfg, old = next(iter(self._data.items()))
                old.popitem(last=False)  # O(1); a dict's first key is O(n) after many deletions
                self._size -= 1
                if not old:
                    del self._data[old_cfg]

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.maxsize, self._size)

    def cache_clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._size = self.hits = self.misses = 0


_EMPTY: Mapping = MappingProxyType({})


class WorkloadView:
    """What an evaluation reads of a workload, computed once per workload object: its
    layers, their names and per-layer memo tokens."""

    __slots__ = ("workload", "layers", "names", "name_set", "tokens")

    def __init__(self, workload: Workload):
        self.workload = workload
        self.layers = tuple(workload.layers)
        self.names = tuple(l.name for l in self.layers)
        self.name_set = frozenset(self.names)
        self.tokens = tuple(layer_token(l) for l in self.layers)

    def schemes(self, point: DesignPoint) -> list[QuantScheme]:
        """The point's scheme of every layer, in order (as :func:`~hwmodels.base.schemes_for`)."""
        for n, _ in point.schemes:
            if n not in self.name_set:
                raise ValueError(f"plan: layer {n!r} is not in workload {self.workload.name!r}")
        plan, default = dict(point.schemes), point.default_scheme
        return [plan.get(n, default) for n in self.names]


#: most workload views kept (keyed on the workload's identity; each holds its workload)
WORKLOAD_VIEWS_SIZE = 64
_VIEWS: OrderedDict[int, WorkloadView] = OrderedDict()
_VIEWS_LOCK = threading.Lock()


def workload_view(workload: Workload) -> WorkloadView:
    """The :class:`WorkloadView` of ``workload`` (memoised on its identity, bounded)."""
    view = _VIEWS.get(id(workload))
    if view is not None and view.workload is workload:
        return view
    view = WorkloadView(workload)
    with _VIEWS_LOCK:
        _VIEWS[id(workload)] = view
        while len(_VIEWS) > WORKLOAD_VIEWS_SIZE:
            _VIEWS.popitem(last=False)
    return view


def clear_workload_views() -> None:
    with _VIEWS_LOCK:
        _VIEWS.clear()


def _array_layer_cost(layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> LayerCost:
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


#: cost of one layer on a homogeneous array (memoised, :class:`LayerMemo`)
array_layer_cost = LayerMemo(_array_layer_cost)


def merge_costs(layer: LayerSpec, pieces: list[LayerCost], cfg: ArrayConfig) -> LayerCost:
    """One layer's cost from the costs of sub-layers that run one after another."""
    tot = {f: sum(getattr(c, f) for c in pieces) for f in
           ("cycles", "latency_s", "energy_j", "macs", "compute_cycles", "memory_cycles", "mac_bits",
            "term_pairs", "bytes_offchip")}
    hard = sum(c.dsp_share * c.macs for c in pieces) / tot["macs"] if tot["macs"] else 0.0
    return LayerCost(name=layer.name, utilization=tot["macs"] / (tot["cycles"] * cfg.lanes) if tot["cycles"] else 0.0,
                     lut_share=1.0 - hard, dsp_share=hard, **tot)


__all__ = ["ArrayConfig", "CacheInfo", "LayerMemo", "RowPart", "WORKLOAD_VIEWS_SIZE", "WorkloadView",
           "array_layer_cost", "clear_workload_views", "layer_token", "merge_costs", "price_parts", "workload_view"]
