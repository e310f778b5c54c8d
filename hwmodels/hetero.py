"""Heterogeneous array for row-wise mixed schemes: SP2 rows on LUTs, fixed rows on DSPs.

After Mix-and-Match (Chang et al., "Mix and Match: a novel FPGA-centric deep neural
network quantization framework", HPCA 2021): an ``msq`` layer quantises a fraction
``sp2_fraction`` of its rows (output channels) to SP2 and the rest to fixed point. Two
arrays with ``rows`` rows run side by side on the same ifmap stream (broadcast):

- a DSP array of ``rows x fixed_cols`` fixed-point lanes (packed per DSP generation);
- a LUT array of ``rows x sp2_cols`` shift-add SP2 lanes (two shifts and an add).

The resource split between them is the knob pair ``fixed_cols`` / ``sp2_cols``. A layer's
latency is the slower array's (each priced with the SCALE-Sim fold formula of the chosen
dataflow). Rows are routed by the layer's scheme:

- ``msq``: ``round(f * N)`` SP2 rows to the LUT array, the rest to the DSP array;
- ``fixed`` / ``term``: all rows on the DSP array (shift-add lanes cannot multiply by a
  fixed-point weight); the LUT array idles;
- ``sp2`` / ``pow2``: shared in proportion to the arrays' columns, the DSP array computing
  them as exact fixed-point words (``arith.exact_fixed_bits``); when those do not fit a
  DSP multiplier (pow2 at 6 bits needs 32) every row goes to the LUT array.

:func:`balanced_split` sizes both arrays for a device and returns the SP2 fraction that
balances them (the fraction a row-assignment step should aim for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Mapping

from .arith import accumulator_bits, dsp_lanes, fixed_dsp, pe_cost, product_bits, row_classes, sp2_shift
from .base import Knob, LayerCost, Resources, Unsupported
from .devices import Device, get_device
from .energy import EnergyModel
from .formats import QuantScheme
from .array_core import (DATAFLOWS, ArrayConfig, ArrayModel, LayerMemo, PEEnvelope, RowPart, array_resources,
                         buffer_resources, cols_knob, envelope_pack, overhead_resources, pe_envelope, price_parts,
                         register_cache)
from .workload import LayerSpec


@register_cache
@lru_cache(maxsize=1 << 14)
def route_rows(scheme: QuantScheme, rows: int, K: int, cfg: ArrayConfig) -> tuple[RowPart, ...]:
    """Split one layer's rows (per group) between the DSP array and the SP2 array (memoised)."""
    if scheme.kind == "msq":
        return tuple(RowPart(n, s, "shift", cfg.sp2_cols) if s.kind == "sp2" else RowPart(n, s, "dsp", cfg.cols)
                     for n, s in row_classes(scheme, rows))
    if scheme.kind in ("fixed", "term"):
        return (RowPart(rows, scheme, "dsp", cfg.cols),)
    try:
        pe_cost("dsp", scheme, K, cfg.dsp_gen, cfg.energy)
    except Unsupported:
        return (RowPart(rows, scheme, "shift", cfg.sp2_cols),)
    n_sp2 = int(math.floor(rows * cfg.sp2_cols / (cfg.sp2_cols + cfg.cols) + 0.5))
    parts = (RowPart(n_sp2, scheme, "shift", cfg.sp2_cols), RowPart(rows - n_sp2, scheme, "dsp", cfg.cols))
    return tuple(p for p in parts if p.rows > 0)


def _hetero_layer_cost(layer: LayerSpec, scheme: QuantScheme, cfg: ArrayConfig) -> LayerCost:
    """Cost of one layer on the two arrays running in parallel (memoised)."""
    return price_parts(layer, scheme, cfg, route_rows(scheme, layer.n_per_group, layer.K, cfg), "parallel")


#: cost of one layer on the two arrays (memoised, :class:`~hwmodels.array_layer.LayerMemo`)
hetero_layer_cost = register_cache(LayerMemo(_hetero_layer_cost))


class HeteroModel(ArrayModel):
    """DSP-based fixed-point array + LUT-based SP2 array in parallel (row-wise msq)."""

    name = "hetero"
    description = ("fixed-point DSP array and SP2 shift-add LUT array side by side for row-wise "
                   "mixed (msq) layers; latency of the slower array")

    def _extra_knobs(self) -> list[Knob]:
        return [
            cols_knob("fixed_cols", "columns of the DSP-based fixed-point array"),
            cols_knob("sp2_cols", "columns of the LUT-based SP2 array (the resource split)"),
            Knob("dataflow", "categorical", "os", choices=DATAFLOWS,
                 doc="output (os), weight (ws) or input (is) stationary, both arrays"),
        ]

    def _config(self, kv: Mapping[str, Any]) -> ArrayConfig:
        return self._base_config(kv, unit="dsp", cols=int(kv["fixed_cols"]), sp2_cols=int(kv["sp2_cols"]),
                                 dataflow=str(kv["dataflow"]))

    _layer_cost = hetero_layer_cost

    def _array_uses(self, pairs, cfg: ArrayConfig) -> tuple[frozenset, frozenset]:
        """(K, scheme) uses of the DSP array and of the SP2 array."""
        dsp_uses, sp2_uses = set(), set()
        for layer, scheme in pairs:
            for p in route_rows(scheme, layer.n_per_group, layer.K, cfg):
                (sp2_uses if p.unit == "shift" else dsp_uses).add((layer.K, p.scheme))
        if not dsp_uses or not sp2_uses:
            # an array no layer uses is still built: size it for the widest format met
            w_max = max(s.w_bits for _, s in pairs)
            a_max = max(s.a_bits for _, s in pairs)
            k_max = max(l.K for l, _ in pairs)
            dsp_uses = dsp_uses or {(k_max, QuantScheme("fixed", w_max, a_max))}
            sp2_uses = sp2_uses or {(k_max, QuantScheme("sp2", w_max, a_max))}
        return frozenset(dsp_uses), frozenset(sp2_uses)

    def _uses(self, pairs, cfg: ArrayConfig) -> tuple[frozenset, frozenset]:
        """The uses of both arrays (:meth:`_array_uses`): the DSP array's set its packing."""
        return self._array_uses(pairs, cfg)

    def _pack(self, pairs, cfg: ArrayConfig, uses: tuple[frozenset, frozenset] | None = None) -> int:
        dsp_uses = (self._uses(pairs, cfg) if uses is None else uses)[0]
        env = pe_envelope("dsp", dsp_uses, cfg.dsp_gen, cfg.energy, cfg.serial)
        return envelope_pack("dsp", env, cfg.dsp_gen)

    def _resources(self, pairs, cfg: ArrayConfig, uses: tuple[frozenset, frozenset] | None = None) -> Resources:
        dsp_uses, sp2_uses = self._array_uses(pairs, cfg) if uses is None else uses
        env_d = pe_envelope("dsp", dsp_uses, cfg.dsp_gen, cfg.energy, cfg.serial)
        env_s = pe_envelope("shift", sp2_uses, cfg.dsp_gen, cfg.energy, cfg.serial)
        return _two_array_resources(cfg, env_d, env_s)


#: most (configuration, envelopes) -> resources entries kept before the memo is emptied
RESOURCES_MEMO_SIZE = 4096
_RESOURCES: dict[tuple, Resources] = {}


def _two_array_resources(cfg: ArrayConfig, env_d: PEEnvelope, env_s: PEEnvelope) -> Resources:
    """Both arrays' fabric, the overhead and the scratchpads sized for both (memoised)."""
    key = (cfg, env_d, env_s)
    out = _RESOURCES.get(key)
    if out is None:
        if len(_RESOURCES) > RESOURCES_MEMO_SIZE:
            _RESOURCES.clear()
        if cfg.pack and env_d.dsp:  # one packing for the whole DSP array (the envelope's)
            env_d = replace(env_d, dsp=1.0 / cfg.pack)
        both = PEEnvelope(w_bits=max(env_d.w_bits, env_s.w_bits), a_bits=max(env_d.a_bits, env_s.a_bits),
                          acc_bits=max(env_d.acc_bits, env_s.acc_bits))
        out = _RESOURCES[key] = (array_resources(cfg.rows, cfg.cols, env_d, cfg.dataflow)
                                 + array_resources(cfg.rows, cfg.sp2_cols, env_s, cfg.dataflow, left_skew=False)
                                 + overhead_resources(cfg, both) + buffer_resources(cfg, both))
    return out


_two_array_resources.cache_clear = _RESOURCES.clear
register_cache(_two_array_resources)


@dataclass(frozen=True)
class HeteroSplit:
    """Array sizes that fill a device, and the SP2 fraction that balances them."""

    fixed_cols: int
    sp2_cols: int
    sp2_fraction: float


def balanced_split(device: Device | str, rows: int = 16, w_bits: int = 4, a_bits: int = 4,
                   lut_budget: float = 0.7, reduction: int = 4608) -> HeteroSplit:
    """Size both arrays of :class:`HeteroModel` for ``device`` and return the balancing
    SP2 fraction.

    The DSP array takes every DSP slice: ``fixed_cols = floor(DSP * lanes / rows)`` with
    ``lanes`` the packing of a ``w_bits x a_bits`` product. The SP2 array takes what is
    left of ``lut_budget`` of the device's LUTs (routing rarely closes far above 70%):
    ``sp2_cols = floor((lut_budget * LUT - LUT_dsp_array) / (rows * LUT_sp2_lane))``. On
    the os/ws dataflows throughput is proportional to columns, so the fraction of rows in
    SP2 that makes both arrays finish together is ``sp2_cols / (sp2_cols + fixed_cols)``.
    ``reduction`` (K) sets the accumulator width (default 3x3x512)."""
    dev = get_device(device) if isinstance(device, str) else device
    em = EnergyModel.for_device(dev)
    fixed = QuantScheme("fixed", w_bits, a_bits)
    sp2 = QuantScheme("sp2", w_bits, a_bits)
    lanes = dsp_lanes(dev.dsp_gen, w_bits, a_bits)
    fixed_cols = max(dev.dsp * lanes // rows, 0)
    dsp_lane = fixed_dsp(w_bits, a_bits, accumulator_bits(product_bits(fixed), reduction), dev.dsp_gen, em)
    sp2_lane = sp2_shift(w_bits, a_bits, accumulator_bits(product_bits(sp2), reduction), em, dev.dsp_gen)
    luts_left = lut_budget * dev.lut - rows * fixed_cols * dsp_lane.lut
    sp2_cols = max(int(math.floor(luts_left / (rows * sp2_lane.lut))), 0)
    total = fixed_cols + sp2_cols
    return HeteroSplit(fixed_cols, sp2_cols, sp2_cols / total if total else 0.0)
