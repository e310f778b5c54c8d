"""Row-wise mixed SP2/fixed quantization (Mix and Match, HPCA 2021) at 4 bits.

For each workload and device: accuracy of all-fixed, all-SP2 and mixed plans (every
compute layer, W4A4; mixed = the device's balanced SP2 fraction, rows ranked by excess
kurtosis) after the same fine-tune from the same FP32 model, as ``dse msq`` measures it;
and the modelled throughput of the mixed design (hetero model: DSP array + LUT SP2 array
sized by ``balanced_split``) against the DSP-only design (systolic, every DSP slice, fixed
point) on the same device, both at 16 rows and at each design's best height. Shape-only
ResNet-18 (224 x 224) adds the throughput at a scale closer to the paper's.

    python benchmarks/bench_msq.py [--workloads digits,mnist1d] [--devices XC7Z020,XC7Z045]
        [--bits 4] [--epochs 2] [--seeds 0,1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics

from dse.methods.msq import best_designs, compare
from dse.workloads import get_workload, get_workload_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="digits,mnist1d")
    ap.add_argument("--devices", default="XC7Z020,XC7Z045")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--hw-workloads", default="resnet18", help="shape-only workloads priced too")
    ap.add_argument("--cache-dir")
    ap.add_argument("--json")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    devices = args.devices.split(",")
    out: dict = {"accuracy": [], "throughput": []}

    print(f"accuracy at W{args.bits}A{args.bits} after {args.epochs} fine-tune epochs, seeds {seeds} "
          "(mean; per seed in brackets)")
    print(f"{'workload':<9} {'device':<8} {'f_sp2':>6} {'FP32':>7} {'all-fixed':>22} {'all-SP2':>22} {'mixed':>22}")
    for name in args.workloads.split(","):
        bundle = get_workload(name)
        for dev in devices:
            runs = [compare(bundle, dev, args.bits, epochs=args.epochs, seed=s, rows=16, cache_dir=args.cache_dir)
                    for s in seeds]
            acc = {k: [r.accuracy[k] for r in runs] for k in ("fixed", "sp2", "mixed")}

            def cell(v: list[float]) -> str:
                return f"{100 * statistics.mean(v):.2f}% [" + " ".join(f"{100 * x:.1f}" for x in v) + "]"

            print(f"{name:<9} {dev:<8} {runs[0].sp2_fraction:>6.3f} {100 * runs[0].float_accuracy:>6.2f}% "
                  f"{cell(acc['fixed']):>22} {cell(acc['sp2']):>22} {cell(acc['mixed']):>22}", flush=True)
            out["accuracy"].append({"workload": name, "device": dev, "sp2_fraction": runs[0].sp2_fraction,
                                    "float_accuracy": runs[0].float_accuracy, "seeds": seeds, **acc})

    print("\nmodelled throughput, mixed (hetero, balanced split) vs DSP-only (systolic), same device, W4A4")
    print(f"{'workload':<9} {'device':<8} {'rows':>5} {'mixed us':>9} {'cols sp2+fix':>12} {'DSP-only us':>11} "
          f"{'cols':>5} {'speed-up':>8}")
    for name in args.workloads.split(",") + [w for w in args.hw_workloads.split(",") if w]:
        spec = get_workload_spec(name)
        for dev in devices:
            for rows in (16, None):
                het, _, dsp = best_designs(spec, dev, args.bits, args.bits, rows)
                label = "16" if rows else f"best"
                print(f"{name:<9} {dev:<8} {label:>5} {het.latency_s * 1e6:>9.2f} "
                      f"{het.cols['sp2_cols']:>5}+{het.cols['fixed_cols']:<3}@{het.rows:<2} "
                      f"{dsp.latency_s * 1e6:>11.2f} {dsp.cols['cols']:>3}@{dsp.rows:<2} "
                      f"{dsp.latency_s / het.latency_s:>7.2f}x", flush=True)
                out["throughput"].append({"workload": name, "device": dev, "rows": rows or "best",
                                          "mixed": {"rows": het.rows, **het.cols, "latency_s": het.latency_s,
                                                    "fits": het.fits},
                                          "dsp_only": {"rows": dsp.rows, **dsp.cols, "latency_s": dsp.latency_s,
                                                       "fits": dsp.fits},
                                          "speedup": dsp.latency_s / het.latency_s})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
