"""Cross-check the systolic model against ZigZag on ResNet-18: per-layer cycles and DRAM bytes.

ZigZag (KU Leuven, ``pip install zigzag-dse six``; the optional extra ``zigzag``) is an
independent analytic model: it searches a temporal mapping (loop order and tiling) for
each layer on a described memory hierarchy and reports latency and per-memory traffic.
This script describes the same accelerator to both tools and prints, per layer, the
compute cycles, the total cycles and the DRAM bytes of each, with their ratio.

Matched: an output-stationary 16 x 16 array (rows: output pixels, 4 x 4 of OY x OX;
columns: 16 filters), 8-bit weights and activations, 24-bit accumulators, scratchpads of
64 KiB (ifmap), 64 KiB (weights) and 32 KiB (outputs), which our model double-buffers
(half of each holds the working set), so ZigZag is given the halves; DRAM at 16 B per
cycle sustained (our model: 3.2 GB/s x efficiency 1.0 at 200 MHz; ZigZag: a 128-bit
read/write port). Not matched, by construction: ZigZag searches the loop order per
layer (ours is the fixed SCALE-Sim order plus a tiling rule) and may keep partial sums
in DRAM; docs/hardware-models.md ("Cross-check with ZigZag") explains the differences.

Run it with a Python that has ZigZag, e.g. in its own venv::

    python -m venv /work/venvs/zigzag && /work/venvs/zigzag/bin/pip install zigzag-dse six
    /work/venvs/zigzag/bin/python benchmarks/bench_zigzag.py [--layers N] [--json out.json]

``hwmodels`` needs only numpy and networkx (both ZigZag dependencies), so the script puts
the repository root on ``sys.path`` when the package is not installed in that venv.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

try:
    import hwmodels  # noqa: F401
except ImportError:  # run from a ZigZag venv without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwmodels import DesignPoint, LayerSpec, Workload  # noqa: E402
from hwmodels.systolic import SystolicModel  # noqa: E402  (no entry points needed in a bare venv)
from hwmodels.traffic import ifmap_elems_read  # noqa: E402

ROWS = COLS = 16
BITS, ACC_BITS = 8, 24
IFMAP_B, WEIGHT_B, OFMAP_B = 64 * 1024, 64 * 1024, 32 * 1024
CLOCK_HZ = 200e6
DRAM_BYTES_PER_CYCLE = 16
#: access "energies" given to ZigZag: DRAM words cost 1, everything on chip next to nothing,
#: so its energy-optimal mapping is the one that moves the fewest DRAM bytes (what our
#: tiling rule aims for); its latency is then reported for that mapping
ONCHIP_COST = 1e-4


def resnet18_layers() -> list[tuple[LayerSpec, int]]:
    """torchvision ResNet-18 at 224 x 224, batch 1: (layer, padding) for the 20 convolutions
    and the classifier."""
    out: list[tuple[LayerSpec, int]] = [(LayerSpec.conv("conv1", 224, 224, 7, 7, 3, 64, stride=2, padding=3), 3)]
    size, ch = 56, 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            cin = ch if block == 0 else width
            name = f"layer{stage}.{block}"
            out.append((LayerSpec.conv(f"{name}.conv1", size, size, 3, 3, cin, width, stride=stride, padding=1), 1))
            osize = size // stride
            out.append((LayerSpec.conv(f"{name}.conv2", osize, osize, 3, 3, width, width, padding=1), 1))
            if stride == 2:
                out.append((LayerSpec.conv(f"{name}.downsample", size, size, 1, 1, cin, width, stride=2), 0))
            size = osize
        ch = width
    out.append((LayerSpec.linear("fc", 512, 1000), 0))
    return out


def ours(layers: list[LayerSpec]) -> list[dict]:
    model = SystolicModel()
    knobs = {"rows": ROWS, "cols": COLS, "dataflow": "os", "clock_hz": CLOCK_HZ, "device": "XC7Z045",
             "ifmap_buffer_bytes": IFMAP_B, "weight_buffer_bytes": WEIGHT_B, "ofmap_buffer_bytes": OFMAP_B,
             "dram_bandwidth_bytes_per_s": DRAM_BYTES_PER_CYCLE * CLOCK_HZ, "dram_efficiency": 1.0}
    rep = model.evaluate(Workload.chain("resnet18", layers), DesignPoint.make(knobs=knobs))
    rows = []
    for layer, c in zip(layers, rep.layers):
        # each operand once (the lower bound both tools share), to show what re-streaming adds
        once = {"I": ifmap_elems_read(layer) * BITS / 8, "W": layer.weights * BITS / 8,
                "O": layer.output_elems * BITS / 8}
        rows.append({"name": c.name, "compute_cycles": c.compute_cycles, "cycles": c.cycles,
                     "dram_bytes": c.bytes_offchip, "each_operand_once": once})
    return rows


# --- ZigZag -------------------------------------------------------------------------------

def zz_layer(i: int, layer: LayerSpec, pad: int) -> dict:
    prec = {"W": BITS, "I": BITS, "O": ACC_BITS, "O_final": BITS}
    if layer.kind == "linear":
        return {"id": i, "name": layer.name, "operator_type": "Gemm",
                "equation": "O[b][k]+=W[k][c]*I[b][c]", "loop_dims": ["B", "K", "C"],
                "loop_sizes": [1, layer.N, layer.K], "operand_precision": prec}
    s = layer.stride
    return {"id": i, "name": layer.name, "operator_type": "Conv",
            "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
            "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
            "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
            "loop_sizes": [1, layer.N, layer.channels, layer.out_h, layer.out_w, layer.filt_h, layer.filt_w],
            "operand_precision": prec, "pr_loop_dims": ["IX", "IY"],
            "pr_loop_sizes": [layer.ifmap_w - 2 * pad, layer.ifmap_h - 2 * pad],
            "padding": [[pad, pad], [pad, pad]]}


def zz_accelerator() -> dict:
    def port(name, kind, bw, alloc):
        return {"name": name, "type": kind, "bandwidth_min": bw, "bandwidth_max": bw, "allocation": alloc}

    def sram(size_bytes, operand, bw, served):
        fills = [f"{operand}, fh"] if operand != "O" else ["O, fh", "O, fl"]
        reads = [f"{operand}, tl"] if operand != "O" else ["O, tl", "O, th"]
        return {"size": size_bytes * 8, "r_cost": ONCHIP_COST, "w_cost": ONCHIP_COST, "area": 0, "latency": 1,
                "operands": [operand], "served_dimensions": served,
                "ports": [port("r_port_1", "read", bw, reads), port("w_port_1", "write", bw, fills)]}

    return {
        "name": "systolic_os_16x16",
        "operational_array": {"unit_energy": ONCHIP_COST, "unit_area": 1, "dimensions": ["D1", "D2"],
                              "sizes": [ROWS, COLS]},
        "memories": {
            # per-PE registers: weight shared down a column (D1 = pixels), ifmap across a row
            "reg_W": sram(1, "I2", BITS, ["D1"]),
            "reg_I": sram(1, "I1", BITS, ["D2"]),
            "reg_O": sram(ACC_BITS // 8, "O", ACC_BITS, []),
            # scratchpads (the working half of each double-buffered one), edge-wide ports
            "buf_O": sram(OFMAP_B // 2, "O", COLS * ACC_BITS, ["D1", "D2"]),
            "buf_W": sram(WEIGHT_B // 2, "I2", COLS * BITS, ["D1", "D2"]),
            "buf_I": sram(IFMAP_B // 2, "I1", ROWS * BITS, ["D1", "D2"]),
            "dram": {"size": 10**10, "r_cost": 1.0, "w_cost": 1.0, "area": 0, "latency": 1,
                     "operands": ["I1", "I2", "O"], "served_dimensions": ["D1", "D2"],
                     "ports": [port("rw_port_1", "read_write", DRAM_BYTES_PER_CYCLE * 8,
                                    ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])]},
        },
    }


def zz_mapping() -> list[dict]:
    links = {"O": "O", "W": "I2", "I": "I1"}
    return [
        {"name": "default", "spatial_mapping": {"D1": ["OY, 4", "OX, 4"], "D2": ["K, 16"]},
         "memory_operand_links": links},
        {"name": "Gemm", "spatial_mapping": {"D1": ["B, 1"], "D2": ["K, 16"]}, "memory_operand_links": links},
    ]


def run_zigzag(pairs: list[tuple[LayerSpec, int]], lpf_limit: int, opt: str) -> list[dict]:
    import yaml
    from zigzag.api import get_hardware_performance_zigzag

    logging.disable(logging.INFO)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        acc = Path(tmp) / "acc.yaml"
        acc.write_text(yaml.safe_dump(zz_accelerator(), sort_keys=False))
        mp = Path(tmp) / "mapping.yaml"
        mp.write_text(yaml.safe_dump(zz_mapping(), sort_keys=False))
        for i, (layer, pad) in enumerate(pairs):
            _, _, cmes = get_hardware_performance_zigzag(
                [zz_layer(0, layer, pad)], str(acc), str(mp), opt=opt, dump_folder=f"{tmp}/out{i}",
                lpf_limit=lpf_limit, loma_show_progress_bar=False, enable_mix_spatial_mapping=True)
            cme = cmes[0][1][0][0]
            by_op = dram_bytes_by_operand(cme)
            rows.append({"name": layer.name, "compute_cycles": float(cme.ideal_temporal_cycle),
                         "cycles": float(cme.latency_total2), "dram_bytes": sum(by_op.values()),
                         "dram_bytes_by_operand": by_op, "temporal_mapping": str(cme.temporal_mapping)})
    return rows


def dram_bytes_by_operand(cme) -> dict[str, float]:
    """Bytes ZigZag moves across the DRAM level per layer operand (I, W, O): all four
    directions (fills from above, reads to below, partial-sum write-backs and re-reads),
    each at its own precision."""
    from zigzag.hardware.architecture.memory_port import DataDirection
    from zigzag.mapping.data_movement import DataMoveAttr

    out = {}
    for op, levels in cme.mapping_int.unit_mem_data_movement.items():
        top = levels[-1]  # the outermost memory level of this operand: DRAM
        count = top.get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
        prec = top.get_attribute(DataMoveAttr.DATA_PRECISION)
        out[str(op)] = sum(count.get(d) * prec.get(d) for d in DataDirection) / 8.0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=0, help="only the first N layers (0 = all)")
    ap.add_argument("--lpf-limit", type=int, default=6, help="ZigZag LOMA loop-prime-factor limit")
    ap.add_argument("--opt", choices=("energy", "latency"), default="energy",
                    help="ZigZag's mapping criterion: energy (= fewest DRAM bytes here) or latency")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    pairs = resnet18_layers()
    if args.layers:
        pairs = pairs[:args.layers]
    a = ours([l for l, _ in pairs])
    z = run_zigzag(pairs, args.lpf_limit, args.opt)
    print(f"{'layer':26s} {'ours cyc':>10s} {'zz cyc':>10s} {'ratio':>6s}   {'ours comp':>10s} {'zz comp':>10s}"
          f"   {'ours DRAM B':>12s} {'zz DRAM B':>12s} {'ratio':>6s}")
    for o, q in zip(a, z):
        print(f"{o['name']:26s} {o['cycles']:10.0f} {q['cycles']:10.0f} {o['cycles'] / q['cycles']:6.2f}   "
              f"{o['compute_cycles']:10.0f} {q['compute_cycles']:10.0f}   {o['dram_bytes']:12.0f} "
              f"{q['dram_bytes']:12.0f} {o['dram_bytes'] / q['dram_bytes']:6.2f}")
    tot = {k: (sum(r[k] for r in a), sum(r[k] for r in z)) for k in ("cycles", "dram_bytes")}
    print(f"{'total':26s} {tot['cycles'][0]:10.0f} {tot['cycles'][1]:10.0f} {tot['cycles'][0] / tot['cycles'][1]:6.2f}"
          f"   {'':10s} {'':10s}   {tot['dram_bytes'][0]:12.0f} {tot['dram_bytes'][1]:12.0f} "
          f"{tot['dram_bytes'][0] / tot['dram_bytes'][1]:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"ours": a, "zigzag": z}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
