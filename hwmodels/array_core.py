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

Steps 1-3 live in :mod:`hwmodels.array_folds`, 4-5 (one layer on a configuration) in
:mod:`hwmodels.array_layer` (with the per-layer memo), the fabric and RAM counts of 6 in
:mod:`hwmodels.array_fabric`; :mod:`hwmodels.array_vector` prices a homogeneous array's
layers together, in one pass (the same numbers). This module holds the PE envelope, the
model family (:class:`ArrayModel`) and the memo caches, and re-exports the others' names so
``from hwmodels.array_core import X`` keeps working.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Mapping

from .arith import array_overhead, row_classes
from .array_fabric import (BRAM18_ASPECTS, RAM_BLOCK_BYTES, SLICE_INPUT_STAGES, URAM_ASPECTS, PEEnvelope,
                           array_resources, ram_blocks, ram_read_mux, ram_stack)
from .array_folds import DATAFLOWS, fold_cycles, scalesim_cycles, spatio_temporal, sram_accesses
from .array_layer import (ArrayConfig, CacheInfo, LayerMemo, RowPart, WorkloadView, array_layer_cost,
                          clear_workload_views, layer_token, merge_costs, price_parts, workload_view)
from .array_vector import context_facts, context_records, envelope_pack, pe_use, price_homogeneous, price_workload
from .base import DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, check_fit
from .devices import Device, catalog_entry, get_device, list_devices
from .energy import EnergyModel
from .formats import QuantScheme
from .workload import LayerSpec, Workload

BUFFER_RAMS = ("bram18", "uram")

#: Zynq-7000 PS DDR3, 32 bits at 1066 MT/s (UG585): the default off-chip (peak) bandwidth.
ZYNQ7_DDR3_BYTES_PER_S = 4.264e9
#: Default sustained fraction of the peak DRAM bandwidth. UG585 (Zynq-7000 TRM), section
#: "DDR Efficiency": the PS DDR controller "was designed to have a maximum efficiency of
#: approximately 75%"; its measured table (4 HP masters, burst 16, DDR3-1050) gives 97 %
#: sequential reads, 87 % sequential reads+writes, 79 % random reads+writes. An
#: accelerator mixes reads (operands) and writes (outputs): 0.75.
DRAM_EFFICIENCY = 0.75


# --- the PE envelope -------------------------------------------------------------------

@lru_cache(maxsize=4096)
def pe_envelope(unit: str, uses: frozenset[tuple[int, QuantScheme]], dsp_gen: str,
                energy: EnergyModel, serial: str) -> PEEnvelope:
    """Envelope of ``unit`` lanes over ``uses`` = (reduction K, scheme) pairs."""
    # the column-wise max over the uses' (lut, ff, dsp, w, a, acc), from 0: the same
    # values, in the same order, as folding PEEnvelope.merge over ``uses``
    memo = _pe_use_memo(unit, dsp_gen, energy, serial)
    if len(memo) > _PE_USE_MEMO_SIZE:
        memo.clear()
    vals = list(map(memo.get, uses))
    if None in vals:
        vals = [v if v is not None else memo.setdefault(use, pe_use(unit, use[0], use[1], dsp_gen, energy, serial))
                for use, v in zip(uses, vals)]
    if not vals:
        return PEEnvelope()
    return PEEnvelope(*map(max, (0.0, 0.0, 0.0, 0, 0, 0, 0.0), *vals))


#: Most (K, scheme) entries one :func:`_pe_use_memo` dict holds before it is emptied.
_PE_USE_MEMO_SIZE = 8192


@lru_cache(maxsize=64)
def _pe_use_memo(unit: str, dsp_gen: str, energy: EnergyModel, serial: str) -> dict:
    """(K, scheme) -> :func:`~hwmodels.array_vector.pe_use` for one PE context: its key is
    hashed once per envelope, not once per use (an EnergyModel hash walks all its fields)."""
    return {}


def overhead_resources(cfg: ArrayConfig, env: PEEnvelope) -> Resources:
    """Fabric outside the lanes: one sequencer (loop counters, address generators) and a
    requantisation unit per output column (``arith.array_overhead``, calibrated)."""
    o = array_overhead(cfg.cols + cfg.sp2_cols, env.a_bits, env.acc_bits, cfg.dsp_gen)
    return Resources(lut=o.lut, ff=o.ff)


def buffer_resources(cfg: ArrayConfig, env: PEEnvelope) -> Resources:
    """Blocks for the three scratchpads, each as wide as the array edge it feeds:
    os: ifmap R x a, filters C x w, outputs C x a; ws: ifmap R x a, filters C x w,
    partial sums C x acc; is: filters R x w, ifmap C x a, partial sums C x acc. A buffer
    stacked in depth over several blocks adds its read mux (:func:`ram_read_mux`)."""
    R, C = cfg.rows, cfg.cols + cfg.sp2_cols
    if cfg.dataflow == "os":
        widths = (R * env.a_bits, C * env.w_bits, C * env.a_bits)
    elif cfg.dataflow == "ws":
        widths = (R * env.a_bits, C * env.w_bits, C * env.acc_bits)
    else:
        widths = (C * env.a_bits, R * env.w_bits, C * env.acc_bits)
    caps = (cfg.ifmap_buffer_bytes, cfg.weight_buffer_bytes, cfg.ofmap_buffer_bytes)
    blocks = sum(ram_blocks(c, w, cfg.buffer_ram) for c, w in zip(caps, widths))
    mux = sum((ram_read_mux(c, w, cfg.buffer_ram) for c, w in zip(caps, widths)), Resources())
    ram = Resources(bram18=float(blocks)) if cfg.buffer_ram == "bram18" else Resources(uram=float(blocks))
    return ram + mux


# --- the model family --------------------------------------------------------------------

def cols_knob(name: str = "cols", doc: str = "array columns (C)") -> Knob:
    """An array's column count (the models' own knob; ``rows`` is common)."""
    return Knob(name, "int", 16, low=1, high=512, log=True, doc=doc)


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
    ``_config``; the heterogeneous model also sets ``_layer_cost`` (its memoised per-layer
    price) and overrides ``_uses``, ``_pack`` and ``_resources``. A model that overrides none
    of them is evaluated in one pass over the layers
    (:func:`~hwmodels.array_vector.price_homogeneous`); the others step by step.
    """

    #: the memoised cost of one layer (a :class:`~hwmodels.array_layer.LayerMemo`); the
    #: homogeneous one's misses are priced together (:mod:`hwmodels.array_vector`)
    _layer_cost: LayerMemo = array_layer_cost

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
        return self._layer_cost(layer, scheme, cfg)

    def _price_layers(self, view: WorkloadView, schemes: list[QuantScheme], cfg: ArrayConfig) -> tuple:
        """Every layer's cost, in order (:func:`~hwmodels.array_vector.price_workload`: the
        homogeneous array's per-layer memo misses priced together)."""
        if type(self)._price is not ArrayModel._price:  # a subclass prices its own way
            return tuple(self._price(layer, s, cfg) for layer, s in zip(view.layers, schemes))
        return price_workload(self._layer_cost, view, schemes, cfg, vector=self._layer_cost is array_layer_cost)

    def _uses(self, pairs: tuple[tuple[LayerSpec, QuantScheme], ...], cfg: ArrayConfig) -> frozenset:
        """(K, scheme) of every row class the array runs (what its PE envelope covers)."""
        out = set()
        for l, s in pairs:
            if s.kind == "msq":  # the one kind of several row classes (arith.row_classes)
                out.update((l.K, c) for _, c in row_classes(s, l.n_per_group))
            else:
                out.add((l.K, s))
        return frozenset(out)

    def _pack(self, pairs: tuple[tuple[LayerSpec, QuantScheme], ...], cfg: ArrayConfig,
              uses: frozenset | None = None) -> int:
        """MACs per PE of the array's DSP lanes (:func:`envelope_pack`); 0 for other units.
        ``uses``: :meth:`_uses` of ``pairs``, when the caller has it."""
        if cfg.unit != "dsp":
            return 0
        env = pe_envelope("dsp", self._uses(pairs, cfg) if uses is None else uses, cfg.dsp_gen, cfg.energy,
                          cfg.serial)
        return envelope_pack("dsp", env, cfg.dsp_gen)

    def _with_pack(self, cfg: ArrayConfig, pack: int) -> ArrayConfig:
        if not pack or cfg.pack == pack:
            return cfg
        cache = self.__dict__.setdefault("_packed", {})
        out = cache.get((cfg, pack))
        if out is None:
            if len(cache) > 4096:
                cache.clear()
            out = cache[(cfg, pack)] = cfg.with_pack(pack)
        return out

    def _resources(self, pairs: tuple[tuple[LayerSpec, QuantScheme], ...], cfg: ArrayConfig,
                   uses: frozenset | None = None) -> Resources:
        env = pe_envelope(cfg.unit, self._uses(pairs, cfg) if uses is None else uses, cfg.dsp_gen, cfg.energy,
                          cfg.serial)
        return array_fabric_resources(cfg, env)

    def _config_for(self, kv: Mapping[str, Any]) -> ArrayConfig:
        key = tuple(kv.items())
        cache = self.__dict__.setdefault("_configs", {})
        device = get_device(kv["device"])
        hit = cache.get(key)
        if hit is not None and hit[1] is device:  # (a device registered again is another one)
            return hit[0]
        if len(cache) > 4096:
            cache.clear()
        cfg = self._config(kv)
        cache[key] = (cfg, device)
        return cfg

    def _resolve(self, point: DesignPoint) -> tuple[Device, ArrayConfig]:
        """The point's device and configuration, memoised on its knob values and their
        types (``True == 1``, but a bool is no int knob value) while :meth:`knobs` and the
        device's catalog entry stay the same."""
        ks = self.knobs()
        cache = self.__dict__.setdefault("_resolved", {})
        try:
            key = (point.knobs, tuple([type(v) for _, v in point.knobs]))
            hit = cache.get(key)
        except TypeError:  # an unhashable knob value: validation names it
            key = hit = None
        if hit is not None and hit[0] is ks and catalog_entry(hit[1].name.upper()) is hit[1]:
            return hit[1], hit[2]
        kv = self.resolve_knobs(point)
        cfg = self._config_for(kv)
        device = get_device(kv["device"])
        if key is not None:
            if len(cache) > 4096:
                cache.clear()
            cache[key] = (ks, device, cfg)
        return device, cfg

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
        device, cfg = self._resolve(point)
        view = workload_view(workload)
        schemes = view.schemes(point)
        if not schemes:
            raise ValueError(f"workload {workload.name!r}: no compute layers to price")
        if _one_pass(type(self)):  # the homogeneous array's steps, in one pass over the layers
            cfg, layers, env = price_homogeneous(view, schemes, cfg, self._with_pack)
            resources = array_fabric_resources(cfg, env)
        else:
            pairs = tuple(zip(view.layers, schemes))
            uses = self._uses(pairs, cfg)
            cfg = self._with_pack(cfg, self._pack(pairs, cfg, uses))
            layers = self._price_layers(view, schemes, cfg)
            resources = self._resources(pairs, cfg, uses)
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

_ONE_PASS: dict[type, bool] = {}


def _one_pass(cls: type) -> bool:
    """Whether ``cls`` prices as :class:`ArrayModel` does (no pricing hook overridden), so
    :func:`~hwmodels.array_vector.price_homogeneous` may do its steps in one pass."""
    out = _ONE_PASS.get(cls)
    if out is None:
        hooks = ("_price", "_price_layers", "_uses", "_pack", "_resources")
        out = _ONE_PASS[cls] = (cls._layer_cost is array_layer_cost
                                and all(getattr(cls, h) is getattr(ArrayModel, h) for h in hooks))
    return out


#: most (configuration, PE envelope) -> resources entries kept before the memo is emptied
RESOURCES_MEMO_SIZE = 4096
_RESOURCES: dict[tuple, Resources] = {}


def array_fabric_resources(cfg: ArrayConfig, env: PEEnvelope) -> Resources:
    """Resources of a homogeneous array of ``env`` lanes on ``cfg`` (memoised): lanes, skew
    and output path, overhead and scratchpads; a packed DSP array at the envelope's one
    packing (``cfg.pack``)."""
    key = (cfg, env)
    out = _RESOURCES.get(key)
    if out is None:
        if len(_RESOURCES) > RESOURCES_MEMO_SIZE:
            _RESOURCES.clear()
        if cfg.pack and env.dsp:  # one packing for the whole array (the envelope's)
            env = replace(env, dsp=1.0 / cfg.pack)
        out = _RESOURCES[key] = (array_resources(cfg.rows, cfg.cols, env, cfg.dataflow)
                                 + overhead_resources(cfg, env) + buffer_resources(cfg, env))
    return out


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
    clear_workload_views()
    _RESOURCES.clear()
    for fn in (array_layer_cost, pe_envelope, _pe_use_memo, context_facts, context_records, ram_blocks,
               arith.pe_cost, arith.product_bits, arith.fixed_dsp, arith.fixed_lut, arith.lane_cost,
               arith.lane_module_price, arith.array_overhead,
               arith.pow2_shift, arith.sp2_shift, arith.bitserial, arith.termserial,
               arith.row_classes, arith.row_bit_folds, arith.split_row_groups, *_CACHES):
        fn.cache_clear()


__all__ = [
    # this module: the PE envelope, the model family, memo caches
    "BUFFER_RAMS", "DRAM_EFFICIENCY", "REPORT_MEMO_SIZE", "ZYNQ7_DDR3_BYTES_PER_S", "ArrayModel",
    "buffer_resources", "clear_caches", "clock_violation", "common_knobs", "envelope_pack",
    "overhead_resources", "pe_envelope", "register_cache", "static_power", "array_fabric_resources",
    # re-exported: hwmodels.array_folds, hwmodels.array_layer, hwmodels.array_fabric
    "DATAFLOWS", "fold_cycles", "scalesim_cycles", "spatio_temporal", "sram_accesses",
    "ArrayConfig", "CacheInfo", "LayerMemo", "RowPart", "WorkloadView", "array_layer_cost", "layer_token",
    "merge_costs", "price_parts", "workload_view",
    "BRAM18_ASPECTS", "RAM_BLOCK_BYTES", "SLICE_INPUT_STAGES", "URAM_ASPECTS", "PEEnvelope",
    "array_resources", "ram_blocks", "ram_read_mux", "ram_stack",
]
