"""A tiny hardware model: ``lanes`` MAC lanes, one MAC per lane per cycle, 1 pJ per MAC,
50 LUTs per lane on the chosen device. Written the way a plug-in author would."""

from __future__ import annotations

import math

from hwmodels import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, Unsupported,
                      Workload, check_fit, get_device, list_devices, schemes_for)
from hwmodels.metrics import layer_mac_bits, layer_term_pairs


class TinyModel(HardwareModel):
    name = "tiny"
    description = "example plug-in: N MAC lanes, 1 pJ/MAC, fixed-point only"

    def knobs(self) -> tuple[Knob, ...]:
        return (
            Knob("device", "categorical", "XC7Z020", choices=list_devices(), search=False),
            Knob("clock_hz", "float", 100e6, low=1e6, high=1e9, log=True, unit="Hz"),
            Knob("lanes", "int", 64, low=1, high=4096, log=True),
        )

    def evaluate(self, workload: Workload, point: DesignPoint) -> HwReport:
        kv = self.resolve_knobs(point)
        layers = []
        for layer, scheme in schemes_for(workload, point):
            if scheme.kind != "fixed":
                raise Unsupported(f"tiny prices fixed-point layers only, not {scheme.kind!r} ({layer.name})")
            cycles = float(math.ceil(layer.macs / kv["lanes"]))
            layers.append(LayerCost(layer.name, cycles, cycles / kv["clock_hz"], layer.macs * 1e-12,
                                    layer.macs, compute_cycles=cycles,
                                    mac_bits=layer_mac_bits(layer, scheme),
                                    term_pairs=layer_term_pairs(layer, scheme)))
        device = get_device(kv["device"])
        res = Resources(lut=50.0 * kv["lanes"], ff=40.0 * kv["lanes"])
        return HwReport(self.name, device.name, kv["clock_hz"], tuple(layers), res, device.capacity,
                        check_fit(res, device.capacity), peak_macs_per_cycle=float(kv["lanes"]))
