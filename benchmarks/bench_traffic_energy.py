"""Off-chip traffic, latency and energy of ResNet-18 on a few systolic points.

Prints the figures docs/hardware-models.md quotes in sections 2 and 5 (traffic of the
strided layers, sustained DRAM bandwidth, static power, term-encoded weights). It uses only
the public model API, so the same script run on an older commit prints that commit's
figures for comparison (knobs the older model lacks are dropped, and said so)::

    python benchmarks/bench_traffic_energy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_zigzag import resnet18_layers  # noqa: E402  (the 21-layer ResNet-18 table)

from hwmodels import DesignPoint, QuantScheme, Workload, get_model  # noqa: E402

WORKLOAD = Workload.chain("resnet18", [layer for layer, _ in resnet18_layers()])
MODEL = get_model("systolic")
KNOWN = {k.name for k in MODEL.knobs()}


def evaluate(knobs: dict, scheme: QuantScheme | None = None):
    dropped = sorted(set(knobs) - KNOWN)
    point = DesignPoint.make(knobs={k: v for k, v in knobs.items() if k in KNOWN},
                             default_scheme=scheme or QuantScheme())
    return MODEL.evaluate(WORKLOAD, point), dropped


def show(label: str, knobs: dict, scheme: QuantScheme | None = None, layers: bool = False) -> None:
    rep, dropped = evaluate(knobs, scheme)
    bound = sum(c.memory_cycles > c.compute_cycles for c in rep.layers)
    print(f"{label}: DRAM {sum(c.bytes_offchip for c in rep.layers):,.0f} B, cycles {rep.cycles:,.0f}, "
          f"latency {rep.latency_s * 1e3:.3f} ms, energy {rep.energy_j * 1e3:.3f} mJ, "
          f"memory-bound {bound} of {len(rep.layers)}" + (f"  (knobs unknown here: {dropped})" if dropped else ""))
    if layers:
        for c in rep.layers:
            if "downsample" in c.name:
                print(f"    {c.name:22s} {c.bytes_offchip:>9,.0f} B  cycles {c.cycles:>9,.0f}  "
                      f"compute {c.compute_cycles:>9,.0f}  memory {c.memory_cycles:>9,.0f}")


def main() -> int:
    show("default (XC7Z045, 16x16 os, 8-bit)", {}, layers=True)
    show("default, static power ignored", {"static_power_w": 0.0})
    big = {"rows": 64, "cols": 64, "device": "XCZU9EG"}
    show("64x64 os on XCZU9EG, peak DRAM", {**big, "dram_efficiency": 1.0}, layers=True)
    show("64x64 os on XCZU9EG, default DRAM efficiency", big)
    for k in (12, 8, 4):
        show(f"default, term 8-bit g=8 k={k}", {"static_power_w": 0.0},
             QuantScheme("term", 8, 8, term_budget=k, group_size=8))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
