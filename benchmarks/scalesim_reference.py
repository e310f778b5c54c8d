"""Regenerate tests/hwmodels/data/scalesim_reference.json from SCALE-Sim 3.0.0.

Stand-alone script (bench_hwmodels.py imports its CONFIG_TEMPLATE only), run with the Python of a
separate virtualenv that has SCALE-Sim installed (SCALE-Sim 3.0.0 breaks with
numpy >= 2.4)::

    python3 -m venv /tmp/scalesim-venv
    /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    /tmp/scalesim-venv/bin/python benchmarks/scalesim_reference.py

Options: ``--out PATH`` (default: tests/hwmodels/data/scalesim_reference.json
next to this repository's benchmarks/ folder), ``--workdir DIR`` (scratch
folder for SCALE-Sim's config/topology/report files; default: a temp dir).
A full run takes about half a minute.

What it does: for every dataflow (os, ws, is) and array shape (8x8, 16x16,
32x32, 4x16, 16x4) it writes a SCALE-Sim config in ideal-bandwidth mode
(``InterfaceBandwidth = CALC``, large SRAMs, no sparsity, no custom layout), a
conv topology CSV and a GEMM topology CSV, runs SCALE-Sim through its Python
API (the same path as ``python -m scalesim.scale -c CFG -t TOPO -l LAYOUT
[-i gemm]``), and collects the per-layer COMPUTE_REPORT.csv and
DETAILED_ACCESS_REPORT.csv rows.

It then checks every record against the closed form below (derived from
scalesim/compute/systolic_compute_{os,ws,is}.py and
memory/double_buffered_scratchpad_mem.py) and fails loudly on a mismatch.

Closed form (SCALE-Sim 3.0.0, stall-free "Total Cycles"), with
M = ofmap pixels per filter, K = filter_h * filter_w * channels,
N = number of filters, R = array rows, C = array cols::

    os: ceil(M/R) * ceil(N/C) * (K + R + C - 2) - 1
    ws: ceil(K/R) * ceil(N/C) * (M + 2R + C - 2) - 1
    is: ceil(K/R) * ceil(M/C) * (N + 2R + C - 2) - 1

Conv -> GEMM: ofmap_h = ceil((H - Fh + S) / S) (== ceil((H - Fh)/S) + 1; no
padding; note ceil, not the usual floor), ofmap_w likewise, M = ofmap_h *
ofmap_w.  GEMM topology rows ``Layer, M, N, K,`` become a conv with
ifmap = M x K, filter = 1 x K, channels = 1, num_filters = N, stride 1, so
SCALE-Sim's GEMM M/N/K are exactly the M/N/K above (A is M x K, B is K x N).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from pathlib import Path

SCALESIM_VERSION = "3.0.0"

DATAFLOWS = ("os", "ws", "is")
ARRAYS = ((8, 8), (16, 16), (32, 32), (4, 16), (16, 4))

# name, ifmap_h, ifmap_w, filt_h, filt_w, channels, num_filters, stride
# (names must not contain "DP": SCALE-Sim treats those as depth-wise layers)
CONV_LAYERS = (
    ("resnet_3x3_s1", 14, 14, 3, 3, 16, 32, 1),      # M=144 K=144 N=32
    ("resnet_3x3_s2", 15, 15, 3, 3, 8, 24, 2),       # M=49  K=72  N=24
    ("resnet_1x1_s1", 8, 8, 1, 1, 64, 48, 1),        # M=64  K=64  N=48
    ("resnet_1x1_s2_odd", 16, 16, 1, 1, 32, 40, 2),  # (16-1)%2 != 0: M=81 (ceil), not 64
    ("alexnet_11x11_s4", 31, 31, 11, 11, 3, 16, 4),  # M=36  K=363 N=16
    ("odd_3x3_c5", 7, 7, 3, 3, 5, 10, 1),            # M=25  K=45  N=10
    ("lenet_5x5", 12, 12, 5, 5, 6, 20, 1),           # M=64  K=150 N=20
    ("rect_3x3", 10, 14, 3, 3, 4, 12, 1),            # M=96  K=36  N=12
    ("alexnet_5x5_s2_odd", 16, 16, 5, 5, 3, 9, 2),   # (16-5)%2 != 0: M=49, K=75, N=9
)

# name, M, N, K  (SCALE-Sim GEMM CSV order: "Layer, M, N, K,")
GEMM_LAYERS = (
    ("gemm_100x40x70", 100, 40, 70),
    ("gemm_33x17x129", 33, 17, 129),
    ("gemm_64x64x64", 64, 64, 64),
)

CONFIG_TEMPLATE = """[general]
run_name = {run_name}

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 6144
FilterSramSzkB = 6144
OfmapSramSzkB = 2048
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
Bandwidth = 10
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40
"""


def ofmap_dim(ifmap: int, filt: int, stride: int) -> int:
    """SCALE-Sim's topology_utils: int(math.ceil((ifmap - filt + stride) / stride))."""
    return int(math.ceil((ifmap - filt + stride) / stride))


def scalesim_cycles(M: int, K: int, N: int, R: int, C: int, dataflow: str) -> int:
    """Closed form of SCALE-Sim 3.0.0's stall-free per-layer 'Total Cycles'."""
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    if dataflow == "os":
        return cdiv(M, R) * cdiv(N, C) * (K + R + C - 2) - 1
    if dataflow == "ws":
        return cdiv(K, R) * cdiv(N, C) * (M + 2 * R + C - 2) - 1
    if dataflow == "is":
        return cdiv(K, R) * cdiv(M, C) * (N + 2 * R + C - 2) - 1
    raise ValueError(dataflow)


def write_topologies(workdir: Path) -> tuple[Path, Path, Path]:
    conv = workdir / "conv_topo.csv"
    with open(conv, "w") as f:
        f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                "Channels, Num Filter, Strides,\n")
        for row in CONV_LAYERS:
            f.write(", ".join(str(x) for x in row) + ",\n")
    gemm = workdir / "gemm_topo.csv"
    with open(gemm, "w") as f:
        f.write("Layer, M, N, K,\n")
        for row in GEMM_LAYERS:
            f.write(", ".join(str(x) for x in row) + ",\n")
    # SCALE-Sim 3.0.0 always opens a layout file; a header-only one is fine
    # when IfmapCustomLayout/FilterCustomLayout are False.
    layout = workdir / "layout.csv"
    with open(layout, "w") as f:
        f.write("Layer name, unused,\n")
    return conv, gemm, layout


def read_report(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0] if h.strip()]
    out = []
    for r in rows[1:]:
        vals = [v.strip() for v in r if v.strip() != ""]
        if vals:
            out.append(dict(zip(header, vals)))
    return out


def run_one(workdir: Path, topo: Path, layout: Path, rows: int, cols: int,
            dataflow: str, gemm: bool) -> list[dict[str, str]]:
    from scalesim.scale_sim import scalesim  # only available in the scalesim venv

    run_name = f"{'gemm' if gemm else 'conv'}_{dataflow}_{rows}x{cols}"
    cfg = workdir / f"{run_name}.cfg"
    cfg.write_text(CONFIG_TEMPLATE.format(run_name=run_name, rows=rows, cols=cols,
                                          dataflow=dataflow))
    top = workdir / "results"
    sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg),
                   topology=str(topo), layout=str(layout), input_type_gemm=gemm)
    sim.run_scale(top_path=str(top))
    compute = read_report(top / run_name / "COMPUTE_REPORT.csv")
    detail = read_report(top / run_name / "DETAILED_ACCESS_REPORT.csv")
    return [dict(c, **d) for c, d in zip(compute, detail)]


def make_records(workdir: Path) -> list[dict]:
    conv_topo, gemm_topo, layout = write_topologies(workdir)
    records = []
    for dataflow in DATAFLOWS:
        for rows, cols in ARRAYS:
            for gemm in (False, True):
                layers = GEMM_LAYERS if gemm else CONV_LAYERS
                reports = run_one(workdir, gemm_topo if gemm else conv_topo, layout,
                                  rows, cols, dataflow, gemm)
                assert len(reports) == len(layers), (len(reports), len(layers))
                for layer, rep in zip(layers, reports):
                    if gemm:
                        name, M, N, K = layer
                        rec = {"layer": name, "format": "gemm", "M": M, "N": N, "K": K}
                        ofmap_h, ofmap_w = M, 1
                    else:
                        name, ih, iw, fh, fw, ch, nf, st = layer
                        ofmap_h, ofmap_w = ofmap_dim(ih, fh, st), ofmap_dim(iw, fw, st)
                        M, K, N = ofmap_h * ofmap_w, fh * fw * ch, nf
                        rec = {"layer": name, "format": "conv", "ifmap_h": ih, "ifmap_w": iw,
                               "filt_h": fh, "filt_w": fw, "channels": ch,
                               "num_filters": nf, "stride": st}
                    # Derived GEMM view: ifmap operand M x K, filter operand K x N,
                    # ofmap M x N.  SCALE-Sim's (Sr, Sc, T) per dataflow:
                    #   os: (M, N, K)   ws: (K, N, M)   is: (K, M, N)
                    sr_sc_t = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[dataflow]
                    rec.update({
                        "ofmap_h": ofmap_h, "ofmap_w": ofmap_w,
                        "gemm_M": M, "gemm_K": K, "gemm_N": N,
                        "Sr": sr_sc_t[0], "Sc": sr_sc_t[1], "T": sr_sc_t[2],
                        "rows": rows, "cols": cols, "dataflow": dataflow,
                        "total_cycles": int(rep["Total Cycles"]),
                        "total_cycles_incl_prefetch": int(rep["Total Cycles (incl. prefetch)"]),
                        "stall_cycles": int(rep["Stall Cycles"]),
                        "overall_util_pct": float(rep["Overall Util %"]),
                        "mapping_efficiency_pct": float(rep["Mapping Efficiency %"]),
                        "compute_util_pct": float(rep["Compute Util %"]),
                        "sram_ifmap_reads": int(float(rep["SRAM IFMAP Reads"])),
                        "sram_filter_reads": int(float(rep["SRAM Filter Reads"])),
                        "sram_ofmap_writes": int(float(rep["SRAM OFMAP Writes"])),
                    })
                    records.append(rec)
                print(f"{dataflow} {rows}x{cols} {'gemm' if gemm else 'conv'}: "
                      f"{[r['total_cycles'] for r in records[-len(layers):]]}", flush=True)
    return records


def check(records: list[dict]) -> int:
    bad = 0
    for r in records:
        want = scalesim_cycles(r["gemm_M"], r["gemm_K"], r["gemm_N"], r["rows"], r["cols"],
                               r["dataflow"])
        if want != r["total_cycles"] or r["stall_cycles"] != 0:
            bad += 1
            print(f"MISMATCH {r['layer']} {r['dataflow']} {r['rows']}x{r['cols']}: "
                  f"scalesim={r['total_cycles']} formula={want} stalls={r['stall_cycles']}")
    return bad


def main(argv: list[str] | None = None) -> int:
    default_out = (Path(__file__).resolve().parent.parent
                   / "tests" / "hwmodels" / "data" / "scalesim_reference.json")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)

    from importlib.metadata import version
    got = version("scalesim")
    if got != SCALESIM_VERSION:
        print(f"warning: scalesim {got} installed, reference is for {SCALESIM_VERSION}",
              file=sys.stderr)

    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="scalesim_ref_") as d:
            records = make_records(Path(d))
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        records = make_records(args.workdir)

    bad = check(records)
    payload = {
        "scalesim_version": got,
        "generated_by": "benchmarks/scalesim_reference.py",
        "config": {"InterfaceBandwidth": "CALC", "IfmapSramSzkB": 6144,
                   "FilterSramSzkB": 6144, "OfmapSramSzkB": 2048, "sparsity": False,
                   "custom_layout": False},
        "formula": {
            "os": "ceil(M/R)*ceil(N/C)*(K+R+C-2) - 1",
            "ws": "ceil(K/R)*ceil(N/C)*(M+2R+C-2) - 1",
            "is": "ceil(K/R)*ceil(M/C)*(N+2R+C-2) - 1",
            "conv_ofmap": "ceil((H-F+S)/S) per spatial dim, no padding",
            "vars": "M=ofmap pixels (gemm M), K=filt_h*filt_w*channels (gemm K), "
                    "N=num_filters (gemm N), R=rows, C=cols",
        },
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(payload, f, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} records to {args.out}; formula mismatches: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
