"""Systolic arrays: SCALE-Sim-exact compute cycles, buffer/DRAM traffic, FPGA resources.

:class:`SystolicModel` is an ``R x C`` array with a chosen PE arithmetic (DSP slice, LUT
multiplier or shift-add). The machinery it shares with the other array models (fold
formulas, traffic, energy, resources) lives in :mod:`hwmodels.array_core`, which
documents the pipeline; the names re-exported below keep old imports working.
"""

from __future__ import annotations

from typing import Any, Mapping

from .array_core import (BRAM18_ASPECTS, BUFFER_RAMS, DATAFLOWS, DRAM_EFFICIENCY, RAM_BLOCK_BYTES,
                         URAM_ASPECTS, ZYNQ7_DDR3_BYTES_PER_S, ArrayConfig, ArrayModel, PEEnvelope,
                         RowPart, array_layer_cost, array_resources, buffer_resources, clear_caches, cols_knob,
                         clock_violation, fold_cycles, merge_costs, pe_envelope, price_parts, ram_blocks,
                         scalesim_cycles, spatio_temporal, sram_accesses)
from .base import Knob
from .traffic import dram_bytes

__all__ = [
    "BRAM18_ASPECTS", "BUFFER_RAMS", "DATAFLOWS", "DRAM_EFFICIENCY", "RAM_BLOCK_BYTES", "URAM_ASPECTS",
    "ZYNQ7_DDR3_BYTES_PER_S", "ArrayConfig", "ArrayModel", "PEEnvelope", "RowPart", "SystolicModel",
    "array_layer_cost", "array_resources", "buffer_resources", "clear_caches", "clock_violation",
    "dram_bytes", "fold_cycles", "merge_costs", "pe_envelope", "price_parts", "ram_blocks",
    "scalesim_cycles", "spatio_temporal", "sram_accesses",
]


class SystolicModel(ArrayModel):
    """R x C systolic array (SCALE-Sim-exact compute cycles) with a chosen PE arithmetic."""

    name = "systolic"
    description = ("R x C systolic array, os/ws/is dataflows, SCALE-Sim-exact compute cycles, "
                   "roofline on off-chip bytes, PEs on DSP slices or LUTs")

    def _extra_knobs(self) -> list[Knob]:
        return [
            cols_knob(),
            Knob("dataflow", "categorical", "os", choices=DATAFLOWS,
                 doc="output (os), weight (ws) or input (is) stationary"),
            Knob("pe_arith", "categorical", "dsp", choices=("dsp", "lut", "shift"),
                 doc="PE multiplier: DSP slice (packed), LUT array multiplier, or "
                     "shift-add (pow2/sp2 weights only)"),
        ]

    def _config(self, kv: Mapping[str, Any]) -> ArrayConfig:
        return self._base_config(kv, unit=str(kv["pe_arith"]), cols=int(kv["cols"]),
                                 dataflow=str(kv["dataflow"]))
