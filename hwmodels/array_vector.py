"""A homogeneous array's layers priced together: the arithmetic of
:func:`hwmodels.array_layer.price_parts` for single-format layers, over many layers at once
(steps 3-5 of the pipeline :mod:`hwmodels.array_core` documents).

A new design point misses the per-layer memo for some or all of its layers: a search
changes the plan, and often the array's shape, clock or buffers, from point to point.
Pricing a miss through ``price_parts`` costs ~12 us of Python. Here the per-layer facts
that do not depend on the array's shape are memoised per PE context (:func:`layer_facts`:
the PE's energy, packing and serial cycles, operand widths, bits and term pairs). The
folds, traffic, cycles and energy of all the misses are then computed together
(:func:`price_layers`): in one loop with the configuration's constants read once
(~3 us a layer), or, from :data:`NUMPY_MIN` layers on, as numpy arrays over the layers
(numpy's fixed cost per operation makes it slower on fewer). :func:`price_homogeneous`
also takes the PE envelope and the packing from the same per-layer records, in one pass.

The results are the same floats as :func:`~hwmodels.array_layer.array_layer_cost`'s: every
quantity is computed with the same operations in the same order (integers as int64 in the
numpy version, exact while a layer's ``M x K x N`` stays below :data:`MAX_MACS`, which
bounds every product; floats as float64). ``tests/hwmodels/test_array_vector.py`` compares
them on random layers, schemes and arrays.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from .arith import (SERIAL_UNITS, accumulator_bits, dot_cycles, dsp_lanes, exact_fixed_bits, pe_cost, product_bits,
                    row_classes)
from .array_fabric import PEEnvelope
from .array_layer import ArrayConfig, LayerMemo, WorkloadView, array_layer_cost
from .base import LayerCost, Unsupported
from .energy import EnergyModel
from .formats import QuantScheme
from .metrics import layer_mac_bits, layer_term_pairs
from .traffic import ifmap_elems_read, weight_storage_bits
from .workload import LayerSpec

#: layers with more MACs than this are priced one by one (exact Python integers): below it
#: every integer product of the pricing fits int64 and converts to float64 exactly
MAX_MACS = 1 << 40
#: fewest layers :func:`price_layers` prices as numpy arrays (measured on ResNet-18's
#: layers: numpy's fixed cost per operation makes the loop faster below about this many)
NUMPY_MIN = 100
#: most (layer, scheme) facts one :func:`context_facts` dict holds before it is emptied
FACTS_MEMO_SIZE = 8192

#: :func:`layer_facts` of a layer that is not priced here (several row classes, per-row
#: widths, or too large)
NOT_VECTOR = None


@lru_cache(maxsize=64)
def context_facts(unit: str, dsp_gen: str, energy: EnergyModel, serial: str) -> dict:
    """(layer token, scheme) -> :func:`layer_facts` for one PE context."""
    return {}


@lru_cache(maxsize=64)
def context_records(unit: str, dsp_gen: str, energy: EnergyModel, serial: str) -> dict:
    """(layer token, scheme) -> (its uses' :func:`pe_use` values, :func:`layer_facts`) for
    one PE context (:func:`price_homogeneous`)."""
    return {}


def facts_memo(cfg: ArrayConfig) -> dict:
    """The facts memo of ``cfg``'s PE context (emptied when it grows past
    :data:`FACTS_MEMO_SIZE`)."""
    return _bounded(context_facts(cfg.unit, cfg.dsp_gen, cfg.energy, cfg.serial))


def records_memo(cfg: ArrayConfig) -> dict:
    """The :func:`context_records` of ``cfg``'s PE context (bounded as :func:`facts_memo`)."""
    return _bounded(context_records(cfg.unit, cfg.dsp_gen, cfg.energy, cfg.serial))


def _bounded(memo: dict) -> dict:
    if len(memo) > FACTS_MEMO_SIZE:
        memo.clear()
    return memo


def layer_facts(layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> tuple | None:
    """What pricing ``layer`` in ``scheme`` on ``cfg``'s lanes needs beyond the array's
    shape: ``(ints, floats)`` with ints ``(M, K, Ng, groups, ifmap elements read, serial
    dot cycles or -1, packing of a fractional DSP lane or 0, a_bits, accumulator bits,
    rows on DSP slices, MACs)`` and floats ``(MAC energy of one group, stored weight bits,
    mac_bits, term_pairs)``; :data:`NOT_VECTOR` for a layer priced one by one.

    Raises what :func:`~hwmodels.array_layer.array_layer_cost` raises for the layer, in
    the same order (the PE cost, then the serial cycles)."""
    if scheme.row_bits is not None or layer.macs > MAX_MACS:
        return NOT_VECTOR
    M, K, Ng, g = layer.M, layer.K, layer.n_per_group, layer.groups
    classes = row_classes(scheme, Ng)
    if len(classes) != 1:
        return NOT_VECTOR
    part = classes[0][1]
    unit = cfg.unit
    pe = pe_cost(unit, part, K, cfg.dsp_gen, cfg.energy, cfg.serial)
    kcyc = dot_cycles(unit, part, K, cfg.serial) if unit in SERIAL_UNITS else -1
    packable = unit == "dsp" and 0 < pe.dsp < 1
    pack_local = max(1, round(1 / pe.dsp)) if packable else 0
    e_mac = M * K * Ng * pe.energy_per_mac_j
    wb = weight_storage_bits(scheme)
    acc = accumulator_bits(product_bits(scheme), K)
    ints = (M, K, Ng, g, ifmap_elems_read(layer), kcyc, pack_local, scheme.a_bits, acc,
            Ng if pe.hard else 0, layer.macs)
    return ints, (e_mac, wb, layer_mac_bits(layer, scheme), layer_term_pairs(layer, scheme))


def vectorizable(cfg: ArrayConfig) -> bool:
    """Whether :func:`price_layers` prices layers on ``cfg`` (a homogeneous array whose
    divisions are all by positive numbers; serial lanes only on the os dataflow)."""
    return (cfg.sp2_cols == 0 and cfg.bytes_per_cycle > 0 and cfg.clock_hz > 0
            and min(cfg.ifmap_buffer_bytes, cfg.weight_buffer_bytes, cfg.ofmap_buffer_bytes) > 0
            and (cfg.unit not in SERIAL_UNITS or cfg.dataflow == "os"))


# --- the PE envelope's inputs -------------------------------------------------------------

def envelope_pack(unit: str, env: PEEnvelope, dsp_gen: str) -> int:
    """MACs per PE of a ``unit`` array whose PEs are ``env``: a DSP array packs at its
    widest operands (``arith.dsp_packing`` of ``env``'s widths: one PE runs every layer,
    as :mod:`hwmodels.rtl.array` generates it); 1 for other units; 0 when the envelope's
    product fits no slice (each layer is then priced at its own packing)."""
    if unit != "dsp" or not env.w_bits:
        return 1
    try:
        return dsp_lanes(dsp_gen, env.w_bits, env.a_bits)
    except Unsupported:
        return 0


def pe_use(unit: str, K: int, s: QuantScheme, dsp_gen: str, energy: EnergyModel,
           serial: str) -> tuple[float, float, float, int, int, int, float]:
    """One use's contribution to a PE envelope (:func:`hwmodels.array_core.pe_envelope`):
    (lut, ff, dsp, w, a, acc bits, forwarded-operand share held in the slice)."""
    pe = pe_cost(unit, s, K, dsp_gen, energy, serial)
    # shift PEs store and stream pow2/sp2 weights as their codes (sign + exponents:
    # 13 SP2 levels fit a 4-bit code); multipliers need the exact fixed-point word
    w = s.w_bits if unit == "shift" and s.kind in ("pow2", "sp2") else exact_fixed_bits(s.kind, s.w_bits)
    return pe.lut, pe.ff, pe.dsp, w, s.a_bits, accumulator_bits(product_bits(s), K), pe.fwd_in_slice


#: the envelope of no use (its column-wise max starts here)
_ENVELOPE_ZERO = (0.0, 0.0, 0.0, 0, 0, 0, 0.0)


def is_single_format(layer: LayerSpec, scheme: QuantScheme) -> bool:
    """Whether :func:`layer_facts` prices the layer (one row class, no per-row widths,
    below :data:`MAX_MACS`); it does not raise."""
    return (scheme.row_bits is None and layer.macs <= MAX_MACS
            and len(row_classes(scheme, layer.n_per_group)) == 1)


def price_homogeneous(view: WorkloadView, schemes: list[QuantScheme], cfg: ArrayConfig,
                      with_pack: Callable[[ArrayConfig, int], ArrayConfig]
                      ) -> tuple[ArrayConfig, tuple[LayerCost, ...], PEEnvelope]:
    """A homogeneous array's evaluation in one pass over the layers: ``(configuration at
    the envelope's packing, layer costs, PE envelope)``, the same as the envelope of the
    uses (:meth:`~hwmodels.array_core.ArrayModel._uses`), :meth:`_pack` and the layers
    priced one by one (:func:`~hwmodels.array_layer.array_layer_cost`) give.

    Per layer, one memoised record (:func:`context_records`) holds the column-wise max of
    its uses' :func:`pe_use` values and its :func:`layer_facts`. Errors come in the order
    the separate steps raise them: on a DSP array the envelope's (every use's PE cost,
    here in layer order) before any layer's pricing; on other units layer by layer."""
    memo, records = array_layer_cost, records_memo(cfg)
    vector = vectorizable(cfg)
    keys = list(zip(view.tokens, schemes))
    recs = list(map(records.get, keys))
    if not all(recs):
        recs = _new_records(view, schemes, cfg, keys, recs, records, vector)
    env = PEEnvelope(*map(max, _ENVELOPE_ZERO, *[rec[0] for rec in recs]))
    if cfg.unit == "dsp":
        cfg = with_pack(cfg, envelope_pack("dsp", env, cfg.dsp_gen))
    out = _through_memo(memo, view, schemes, keys, cfg, lambda i: recs[i][1] if vector else NOT_VECTOR)
    return cfg, out, env


def _new_records(view: WorkloadView, schemes: list[QuantScheme], cfg: ArrayConfig, keys: list, recs: list,
                 records: dict, vector: bool) -> list:
    """:func:`price_homogeneous`'s records, the missing ones computed in layer order. On a
    unit without packing the configuration is final, and each layer priced one by one is
    priced here, in order, before the next record (the separate steps price every layer
    before the envelope)."""
    unit = cfg.unit
    out = []
    for layer, s, key, rec in zip(view.layers, schemes, keys, recs):
        if unit != "dsp" and not (vector and (is_single_format(layer, s) if rec is None else rec[1] is not NOT_VECTOR)):
            array_layer_cost(layer, s, cfg)
        if rec is None:
            uses = [pe_use(unit, layer.K, c, cfg.dsp_gen, cfg.energy, cfg.serial)
                    for _, c in row_classes(s, layer.n_per_group)]
            rec = records[key] = (tuple(map(max, *uses)) if len(uses) > 1 else uses[0],
                                  layer_facts(layer, s, cfg))
        out.append(rec)
    return out


_NO_FACTS = object()


def price_workload(memo: LayerMemo, view: WorkloadView, schemes: list[QuantScheme], cfg: ArrayConfig,
                   vector: bool = True) -> tuple[LayerCost, ...]:
    """Every layer's cost on ``cfg``, in order, through the per-layer ``memo``: hits as they
    are; with ``vector`` (``memo`` prices with :func:`~hwmodels.array_layer.array_layer_cost`)
    the misses of single-format layers priced together from their memoised
    :func:`layer_facts` (:func:`price_layers`); other misses one by one. A layer that
    cannot be priced raises in layer order, as pricing them one by one does."""
    facts = facts_memo(cfg) if vector and vectorizable(cfg) else None
    keys = list(zip(view.tokens, schemes))

    def facts_of(i: int) -> Any:
        if facts is None:
            return NOT_VECTOR
        f = facts.get(keys[i], _NO_FACTS)
        if f is _NO_FACTS:
            f = facts[keys[i]] = layer_facts(view.layers[i], schemes[i], cfg)
        return f

    return _through_memo(memo, view, schemes, keys, cfg, facts_of)


def _through_memo(memo: LayerMemo, view: WorkloadView, schemes: list[QuantScheme], keys: list,
                  cfg: ArrayConfig, facts_of: Callable[[int], Any]) -> tuple[LayerCost, ...]:
    """Every layer's cost on ``cfg`` through ``memo``: hits as they are; a miss whose
    ``facts_of(index)`` is not ``NOT_VECTOR`` priced with the other such misses in one
    :func:`price_layers` call, the rest one by one, in layer order (their errors come as one
    by one pricing raises them); the misses memoised."""
    out = list(map(memo.table(cfg).get, keys))
    hits = len(out)
    if not all(out):
        todo = []   # (index, facts) of the misses priced together
        singles = []
        for i, cost in enumerate(out):
            if cost is None:
                hits -= 1
                f = facts_of(i)
                if f is NOT_VECTOR:
                    out[i] = cost = memo.fn(view.layers[i], schemes[i], cfg)
                    singles.append((keys[i], cost))
                else:
                    todo.append((i, f))
        _price_together(memo, view, keys, cfg, out, todo, singles)
    memo.hits += hits
    return tuple(out)


def _price_together(memo: LayerMemo, view: WorkloadView, keys: list, cfg: ArrayConfig, out: list,
                    todo: list, singles: list) -> None:
    """Price the ``todo`` misses ((index, facts)) in one :func:`price_layers` call, fill them
    into ``out`` and memoise them with the one-by-one ``singles`` ((key, cost))."""
    if todo:
        costs = price_layers([view.names[i] for i, _ in todo], [f for _, f in todo], cfg)
        for (i, _), cost in zip(todo, costs):
            out[i] = cost
        singles.extend(zip([keys[i] for i, _ in todo], costs))
    memo.put_many(cfg, singles)


def _cdiv(a, b):
    return -(-a // b)


def price_layers(names: list[str], facts: list[tuple], cfg: ArrayConfig) -> list[LayerCost]:
    """The :class:`LayerCost` of each layer (``names``, :func:`layer_facts`) on ``cfg``,
    equal to :func:`~hwmodels.array_layer.array_layer_cost`'s (:func:`vectorizable`
    configurations only): as numpy arrays over the layers from :data:`NUMPY_MIN` layers
    on, else in one loop (numpy's per-call cost exceeds the loop's below that)."""
    if len(facts) >= NUMPY_MIN:
        return price_layers_numpy(names, facts, cfg)
    return price_layers_loop(names, facts, cfg)


def price_layers_loop(names: list[str], facts: list[tuple], cfg: ArrayConfig) -> list[LayerCost]:
    """:func:`price_layers` one layer after another: the expressions of
    :func:`~hwmodels.array_layer.price_parts` (one part, ``shared``),
    :func:`~hwmodels.array_folds.fold_cycles`, :func:`~hwmodels.array_folds.sram_accesses`
    and :func:`~hwmodels.traffic.dram_bytes`, inlined, with the configuration's constants
    read once."""
    R, C, df, cfg_pack = cfg.rows, cfg.cols, cfg.dataflow, cfg.pack
    if df not in ("os", "ws", "is"):
        raise ValueError(f"dataflow: must be one of os, ws, is; got {df!r}")
    os_ = df == "os"
    c_all = C + cfg.sp2_cols
    hi, hw, ho = cfg.ifmap_buffer_bytes / 2.0, cfg.weight_buffer_bytes / 2.0, cfg.ofmap_buffer_bytes / 2.0
    bpc, clock, lanes, static = cfg.bytes_per_cycle, cfg.clock_hz, cfg.lanes, cfg.static_power_w
    sram_j, dram_j = cfg.sram_j_per_bit, cfg.energy.dram_j_per_bit()
    ceil, of = math.ceil, LayerCost.of
    out = []
    for name, ((M, K, Ng, g, ifr, kcyc, pack_local, ab, acc, hard, macs), (e_mac, wb, mac_bits, term_pairs)) \
            in zip(names, facts):
        if os_:
            pack = (cfg_pack or pack_local) if pack_local else 1
            pe_cols = -(-C // pack) if pack > 1 else C
            cyc = -(-M // R) * -(-Ng // C) * ((kcyc if kcyc >= 0 else K) + (R + pe_cols - 2)) - 1
            if_reads, fr, ow, pr = M * K * -(-Ng // C), K * Ng * -(-M // R), M * Ng, 0
        else:
            kf = -(-K // R)
            if df == "ws":
                cyc = kf * -(-Ng // C) * (M + (2 * R + C - 2)) - 1
                if_reads, fr = M * K * -(-Ng // C), K * Ng
            else:
                cyc = kf * -(-M // C) * (Ng + (2 * R + C - 2)) - 1
                if_reads, fr = M * K, K * Ng * -(-M // C)
            ow, pr = M * Ng * kf, M * Ng * (kf - 1)
        compute = g * cyc
        out_elems = M * Ng
        ifmap_bytes = ifr / g * ab / 8.0
        weight_bytes = K * Ng * wb / 8.0
        if weight_bytes <= hw or ifmap_bytes <= hi:
            base = ifmap_bytes + weight_bytes
        else:
            base = min(ifmap_bytes * ceil(weight_bytes / hw) + weight_bytes,
                       weight_bytes * ceil(ifmap_bytes / hi) + ifmap_bytes)
        kc = max(1, ceil(K * min(c_all, Ng) * wb / 8.0 / hw))
        psum = 0.0 if os_ else out_elems * acc / 8.0
        spill = 0.0 if kc == 1 or psum <= ho else 2.0 * (kc - 1) * psum
        per_group_dram = base + out_elems * ab / 8.0 + spill
        offchip = g * per_group_dram
        memory = offchip / bpc
        cycles = max(float(compute), memory)
        latency = cycles / clock
        sram_bits = g * (if_reads * ab + fr * wb + (ow - out_elems + pr) * acc + out_elems * ab
                         + per_group_dram * 8.0)
        energy = g * e_mac + sram_bits * sram_j + offchip * 8.0 * dram_j + static * latency
        out.append(of(name, cycles, latency, energy, macs, float(compute), memory, mac_bits, term_pairs,
                             macs / (cycles * lanes) if cycles else 0.0, (Ng - hard) / Ng, hard / Ng, offchip))
    return out


def price_layers_numpy(names: list[str], facts: list[tuple], cfg: ArrayConfig) -> list[LayerCost]:
    """:func:`price_layers` as numpy arrays over the layers. Comments name the scalar code
    each step mirrors."""
    if not facts:
        return []
    ints = np.array([f[0] for f in facts], dtype=np.int64)
    flts = np.array([f[1] for f in facts], dtype=np.float64)
    M, K, Ng, g, ifr, kcyc, pack_local, ab, acc, hard, macs = ints.T
    e_mac, wb, mac_bits, term_pairs = flts.T
    R, C, df = cfg.rows, cfg.cols, cfg.dataflow

    # price_parts' timing: the array's packing, else the lane's own, for fractional DSP lanes
    if cfg.pack:
        pack = np.where(pack_local > 0, cfg.pack, 1)
    else:
        pack = np.maximum(pack_local, 1)
    # array_folds.fold_cycles and sram_accesses, one part of Ng rows
    if df == "os":
        t = np.where(kcyc >= 0, kcyc, K)
        cyc = _cdiv(M, R) * _cdiv(Ng, C) * (t + (R + _cdiv(C, pack) - 2)) - 1
        if_reads, fr, ow, pr = M * K * _cdiv(Ng, C), K * Ng * _cdiv(M, R), M * Ng, 0
    else:
        kf = _cdiv(K, R)
        if df == "ws":
            cyc = _cdiv(K, R) * _cdiv(Ng, C) * (M + (2 * R + C - 2)) - 1
            if_reads, fr = M * K * _cdiv(Ng, C), K * Ng
        elif df == "is":
            cyc = _cdiv(K, R) * _cdiv(M, C) * (Ng + (2 * R + C - 2)) - 1
            if_reads, fr = M * K, K * Ng * _cdiv(M, C)
        else:
            raise ValueError(f"dataflow: must be one of os, ws, is; got {df!r}")
        ow, pr = M * Ng * kf, M * Ng * (kf - 1)
    compute = g * cyc

    # traffic.dram_bytes of one group
    out_elems = M * Ng
    ifmap_bytes = ifr / g * ab / 8.0
    weight_bytes = K * Ng * wb / 8.0
    ofmap_bytes = out_elems * ab / 8.0
    cols_weight_bytes = K * np.minimum(C + cfg.sp2_cols, Ng) * wb / 8.0
    hi, hw, ho = cfg.ifmap_buffer_bytes / 2.0, cfg.weight_buffer_bytes / 2.0, cfg.ofmap_buffer_bytes / 2.0
    tiled = np.minimum(ifmap_bytes * np.ceil(weight_bytes / hw) + weight_bytes,
                       weight_bytes * np.ceil(ifmap_bytes / hi) + ifmap_bytes)
    base = np.where((weight_bytes <= hw) | (ifmap_bytes <= hi), ifmap_bytes + weight_bytes, tiled)
    kc = np.maximum(1.0, np.ceil(cols_weight_bytes / hw))
    if df == "os":  # os keeps partial sums in the PEs: nothing spills
        spill = 0.0
    else:
        psum = out_elems * acc / 8.0
        spill = np.where((kc == 1.0) | (psum <= ho), 0.0, 2.0 * (kc - 1.0) * psum)
    per_group_dram = base + ofmap_bytes + spill
    offchip = g * per_group_dram
    memory = offchip / cfg.bytes_per_cycle
    cycles = np.maximum(compute.astype(np.float64), memory)
    latency = cycles / cfg.clock_hz

    sram_bits = g * (if_reads * ab + fr * wb + (ow - out_elems + pr) * acc + out_elems * ab
                     + per_group_dram * 8.0)
    energy = (g * e_mac + sram_bits * cfg.sram_j_per_bit + offchip * 8.0 * cfg.energy.dram_j_per_bit()
              + cfg.static_power_w * latency)
    utilization = np.where(cycles != 0, macs / (cycles * cfg.lanes), 0.0)
    lut_share = (Ng - hard) / Ng
    dsp_share = hard / Ng

    cols = (cycles, latency, energy, macs, compute.astype(np.float64), memory, mac_bits, term_pairs,
            utilization, lut_share, dsp_share, offchip)
    return [LayerCost.of(name, *vals) for name, *vals in zip(names, *(c.tolist() for c in cols))]


__all__ = ["FACTS_MEMO_SIZE", "MAX_MACS", "NOT_VECTOR", "NUMPY_MIN", "context_facts", "context_records",
           "envelope_pack", "facts_memo", "is_single_format", "layer_facts", "pe_use", "price_homogeneous",
           "price_layers", "price_layers_loop", "price_layers_numpy", "price_workload", "records_memo",
           "vectorizable"]
