"""Speed of the analytic hardware models on ResNet-18 (224x224, 1.81 GMACs).

Prints microseconds per design point (one full evaluation: all 21 layers, cycles,
latency, energy, resources, fit, bits/terms metrics) for every registered model in three
regimes:

- ``warm``: the same point again (per-layer memo hits);
- ``new``: a fresh random point each time (per-layer schemes from 49 fixed-point
  (w, a) pairs, random rows): unit-cost memos warm and per-layer memo hits accruing as
  they do in a running search over a finite space;
- ``cold``: every memo cleared before each evaluation (worst case).

Where the SCALE-Sim virtualenv exists (``/tmp/scalesim-venv``, see
``benchmarks/scalesim_reference.py``), it also runs SCALE-Sim 3.0.0 on the same layers
(16x16 array, os dataflow, ideal bandwidth) in a subprocess, checks that the systolic
model's cycles equal SCALE-Sim's per layer, and prints the time ratio.

    python benchmarks/bench_hwmodels.py [--repeat 300] [--no-scalesim] [--scalesim-timeout 900] [--clock wall]

Timings are on this thread's CPU clock by default (``--clock thread``: the machine is
shared, and other jobs' load does not count against it); SCALE-Sim's are wall clock.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Workload, get_model, list_models, write_topology  # noqa: E402
from hwmodels.systolic import clear_caches  # noqa: E402
from scalesim_reference import CONFIG_TEMPLATE  # noqa: E402  (SCALE-Sim's ideal-bandwidth config; stdlib only)

SCALESIM_PYTHON = Path("/tmp/scalesim-venv/bin/python")


def resnet18() -> Workload:
    """ResNet-18 at 224x224 as LayerSpecs (He et al. 2016): 20 convs + fc, 1.814 GMACs."""
    layers = [LayerSpec.conv("conv1", 224, 224, 7, 7, 3, 64, stride=2, padding=3)]
    cin, hw = 64, 56  # after the 3x3/2 max-pool
    for stage, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        for b in range(2):
            st = s if b == 0 else 1
            out = (hw + 2 - 3) // st + 1
            layers.append(LayerSpec.conv(f"layer{stage}.{b}.conv1", hw, hw, 3, 3, cin, c, stride=st, padding=1))
            layers.append(LayerSpec.conv(f"layer{stage}.{b}.conv2", out, out, 3, 3, c, c, padding=1))
            if b == 0 and (st != 1 or cin != c):
                layers.append(LayerSpec.conv(f"layer{stage}.{b}.downsample", hw, hw, 1, 1, cin, c, stride=st))
            hw, cin = out, c
    layers.append(LayerSpec.linear("fc", 512, 1000))
    return Workload.chain("resnet18", layers)


CLOCKS = {"thread": time.thread_time, "wall": time.perf_counter}


def time_model(name: str, workload: Workload, repeat: int, seed: int = 0,
               clock=time.thread_time) -> dict[str, float]:
    model = get_model(name)
    knob_names = {k.name for k in model.knobs()}
    rng = random.Random(seed)
    pool = [QuantScheme("fixed", w, a) for w in range(2, 9) for a in range(2, 9)]
    default = DesignPoint.make()
    model.evaluate(workload, default)

    def per_point(fn) -> float:
        times = []
        for _ in range(5):
            t = clock()
            fn()
            times.append((clock() - t) / repeat * 1e6)
        return min(times)

    def warm() -> None:
        for _ in range(repeat):
            model.evaluate(workload, default)

    def new() -> None:
        for p in points:
            model.evaluate(workload, p)

    def cold() -> None:
        for _ in range(repeat):
            clear_caches()
            model.evaluate(workload, default)

    rows = {"rows": None} if "rows" in knob_names else {}
    out = {"warm": per_point(warm)}
    samples = []
    for _ in range(5):
        points = [DesignPoint.make({l.name: rng.choice(pool) for l in workload.layers},
                                   {k: rng.choice([8, 16, 32]) for k in rows})
                  for _ in range(repeat)]
        t = clock()
        new()
        samples.append((clock() - t) / repeat * 1e6)
    out["new"] = min(samples)
    out["cold"] = per_point(cold)
    return out


SCALESIM_SCRIPT = textwrap.dedent("""
    # runs inside the SCALE-Sim venv: one layer per SCALE-Sim run, one JSON line per layer
    import contextlib, csv, io, json, os, sys, time
    from scalesim.scale_sim import scalesim
    cfg, layout, top, *topos = sys.argv[1:]
    for topo in topos:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                           layout=layout, input_type_gemm=False)
            sim.run_scale(top_path=top)
        dt = time.perf_counter() - t
        rows = list(csv.reader(open(os.path.join(top, "bench_r18", "COMPUTE_REPORT.csv"))))
        i = [h.strip() for h in rows[0]].index("Total Cycles")
        print(json.dumps({"topology": topo, "seconds": dt, "cycles": int(float(rows[1][i]))}), flush=True)
""")

def run_scalesim(workload: Workload, rows: int, cols: int, timeout_s: float) -> list[dict]:
    """SCALE-Sim on each layer of ``workload`` (one run per layer, smallest first so a
    timeout still leaves a comparison); returns the layers it finished in time."""
    order = sorted(workload.layers, key=lambda l: l.macs)
    with tempfile.TemporaryDirectory(prefix="bench_scalesim_") as d:
        dp = Path(d)
        topos = []
        for i, layer in enumerate(order):
            topos.append(str(write_topology(Workload.chain(layer.name, [layer]), dp / f"l{i}.csv", fmt="conv")))
        (dp / "layout.csv").write_text("Layer name, unused,\n")
        (dp / "bench.cfg").write_text(CONFIG_TEMPLATE.format(run_name="bench_r18", rows=rows, cols=cols,
                                                               dataflow="os"))
        (dp / "run.py").write_text(SCALESIM_SCRIPT)
        out: list[dict] = []
        proc = subprocess.Popen([str(SCALESIM_PYTHON), str(dp / "run.py"), str(dp / "bench.cfg"),
                                 str(dp / "layout.csv"), str(dp / "out"), *topos],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=d)
        deadline = time.monotonic() + timeout_s
        try:
            import selectors
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                line = proc.stdout.readline()
                if not line:
                    break
                rec = json.loads(line)
                rec["layer"] = order[topos.index(rec["topology"])]
                out.append(rec)
        finally:
            if proc.poll() is None:
                proc.kill()
                print(f"SCALE-Sim: stopped after {timeout_s:.0f} s with {len(out)} of {len(order)} layers done")
            proc.wait()
        if proc.returncode not in (0, -9) and not out:
            print("SCALE-Sim failed:", (proc.stderr.read().strip().splitlines() or ["?"])[-1])
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=300, help="evaluations per timing sample")
    ap.add_argument("--no-scalesim", action="store_true", help="skip the SCALE-Sim comparison")
    ap.add_argument("--scalesim-timeout", type=float, default=900.0, help="seconds")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="thread",
                    help="timer of the model timings: this thread's CPU time (default) or wall time")
    args = ap.parse_args(argv)
    clock = CLOCKS[args.clock]

    w = resnet18()
    print(f"workload: ResNet-18 224x224, {len(w.layers)} layers, {w.macs / 1e9:.3f} GMACs, "
          f"Python {sys.version.split()[0]}, {args.clock} clock")
    print(f"{'model':<12} {'warm us/pt':>11} {'new us/pt':>10} {'cold us/pt':>11}")
    results = {}
    for name in list_models():
        r = results[name] = time_model(name, w, args.repeat, clock=clock)
        print(f"{name:<12} {r['warm']:>11.0f} {r['new']:>10.0f} {r['cold']:>11.0f}")

    if args.no_scalesim or not SCALESIM_PYTHON.exists():
        if not args.no_scalesim:
            print(f"SCALE-Sim: {SCALESIM_PYTHON} not found; no comparison")
        return 0
    rows = cols = 16
    done = run_scalesim(w, rows, cols, args.scalesim_timeout)
    if not done:
        return 1
    sub = Workload.chain("resnet18-part", [r["layer"] for r in done])
    model = get_model("systolic")
    # SCALE-Sim's PEs are single-MAC: lut PEs (8x8-bit dsp PEs pack 2 per slice and fill faster)
    point = DesignPoint.make(knobs={"rows": rows, "cols": cols, "dataflow": "os", "pe_arith": "lut",
                                    "dram_bandwidth_bytes_per_s": 1e13})
    ours = [int(l.cycles) for l in model.evaluate(sub, point).layers]
    theirs = [r["cycles"] for r in done]
    seconds = sum(r["seconds"] for r in done)
    us = time_model("systolic", sub, args.repeat, clock=clock)["cold"]
    match = ours == theirs
    print(f"SCALE-Sim 3.0.0 on {len(done)} of {len(w.layers)} layers ({sub.macs / 1e9:.3f} GMACs), 16x16 os: "
          f"{seconds:.1f} s; systolic model on the same layers (cold) {us:.0f} us -> "
          f"{seconds * 1e6 / us:,.0f}x faster; per-layer cycles {'identical' if match else 'DIFFER'}")
    for r, a in zip(done, ours):
        if a != r["cycles"]:
            print(f"  {r['layer'].name}: ours {a} scalesim {r['cycles']}")
    return 0 if match else 1


if __name__ == "__main__":
    sys.exit(main())
