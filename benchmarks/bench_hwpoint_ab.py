"""Same-process A/B timing of one ResNet-18 systolic design point: the working tree's
``hwmodels`` against another copy of the package (e.g. a commit's, extracted with
``git archive <commit> hwmodels | tar -x -C /tmp/old``), rounds interleaved.

    python benchmarks/bench_hwpoint_ab.py /tmp/old/hwmodels [--repeat 100] [--rounds 5] [--model systolic]
                                          [--clock thread|wall]

Prints microseconds per point (best round) for ``warm`` (the default point again),
``warm-plan`` (one point with a scheme per layer again), ``new`` (fresh random
points, per-layer memos warm as in a running search) and ``new-array`` (fresh random
points whose array shape and clock are new too, so every layer misses the per-layer
memo, as in the pre-flight's random sample), ``cold`` (the default point with every memo
cleared first), and the ratio before/after. Regimes as in
``bench_hwmodels.py``. Timed on this thread's CPU clock unless ``--clock wall``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def resnet18(hw):
    layers = [hw.LayerSpec.conv("conv1", 224, 224, 7, 7, 3, 64, stride=2, padding=3)]
    cin, size = 64, 56
    for stage, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        for b in range(2):
            st = s if b == 0 else 1
            out = (size + 2 - 3) // st + 1
            layers.append(hw.LayerSpec.conv(f"layer{stage}.{b}.conv1", size, size, 3, 3, cin, c, stride=st, padding=1))
            layers.append(hw.LayerSpec.conv(f"layer{stage}.{b}.conv2", out, out, 3, 3, c, c, padding=1))
            if b == 0 and (st != 1 or cin != c):
                layers.append(hw.LayerSpec.conv(f"layer{stage}.{b}.downsample", size, size, 1, 1, cin, c, stride=st))
            size, cin = out, c
    layers.append(hw.LayerSpec.linear("fc", 512, 1000))
    return hw.Workload.chain("resnet18", layers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("other", type=Path, help="the other hwmodels package directory (the 'before')")
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", default="systolic", choices=("systolic", "bitserial", "termserial", "hetero"))
    ap.add_argument("--clock", default="thread", choices=("thread", "wall"))
    args = ap.parse_args()
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    module, cls = {"systolic": ("systolic", "SystolicModel"), "bitserial": ("bitserial", "BitSerialModel"),
                   "termserial": ("termserial", "TermSerialModel"), "hetero": ("hetero", "HeteroModel")}[args.model]
    pkgs = {"before": load(args.other, "hwmodels_before"), "after": load(ROOT / "hwmodels", "hwmodels")}
    state = {}
    for tag, hw in pkgs.items():
        w = resnet18(hw)
        m = getattr(importlib.import_module(f"{hw.__name__}.{module}"), cls)()
        pool = [hw.QuantScheme("fixed", a, b) for a in range(2, 9) for b in range(2, 9)]
        rng = random.Random(0)
        mk = lambda: [hw.DesignPoint.make({l.name: rng.choice(pool) for l in w.layers},
                                          {"rows": rng.choice([8, 16, 32])}) for _ in range(args.repeat)]
        # new array shape and clock each point: nothing in the per-layer memo
        cols = "fixed_cols" if args.model == "hetero" else "cols"
        mk_array = lambda: [hw.DesignPoint.make({l.name: rng.choice(pool) for l in w.layers},
                                                {"rows": rng.choice([8, 16, 32]), cols: rng.randint(4, 64),
                                                 "clock_hz": rng.uniform(100e6, 300e6)})
                            for _ in range(args.repeat)]
        for p in mk() * 3:  # per-layer memos as in a running search
            m.evaluate(w, p)
        clear = importlib.import_module(f"{hw.__name__}.array_core").clear_caches
        state[tag] = (w, m, hw.DesignPoint.make(), mk, mk_array, clear)
    regimes = ("warm", "warm-plan", "new", "new-array", "cold")
    best = {(t, r): float("inf") for t in pkgs for r in regimes}
    for _ in range(args.rounds):
        for tag, (w, m, d, mk, mk_array, clear) in state.items():
            m.evaluate(w, d)
            t = clock()
            for _ in range(args.repeat):
                m.evaluate(w, d)
            best[tag, "warm"] = min(best[tag, "warm"], (clock() - t) / args.repeat * 1e6)
            pts = mk()
            plan = pts[0]  # one full per-layer plan, again and again
            m.evaluate(w, plan)
            t = clock()
            for _ in range(args.repeat):
                m.evaluate(w, plan)
            best[tag, "warm-plan"] = min(best[tag, "warm-plan"], (clock() - t) / args.repeat * 1e6)
            pts = pts[1:] + mk()[:1]
            t = clock()
            for p in pts:
                m.evaluate(w, p)
            best[tag, "new"] = min(best[tag, "new"], (clock() - t) / args.repeat * 1e6)
            pts = mk_array()
            t = clock()
            for p in pts:
                m.evaluate(w, p)
            best[tag, "new-array"] = min(best[tag, "new-array"], (clock() - t) / args.repeat * 1e6)
    for _ in range(args.rounds):  # last: clearing the memos would change the regimes above
        for tag, (w, m, d, mk, mk_array, clear) in state.items():
            cold = 0.0
            for _ in range(max(args.repeat // 10, 1)):
                clear()
                t = clock()
                m.evaluate(w, d)
                cold += clock() - t
            best[tag, "cold"] = min(best[tag, "cold"], cold / max(args.repeat // 10, 1) * 1e6)
    print(f"ResNet-18, {args.model}, best of {args.rounds} rounds of {args.repeat} points, {args.clock} clock")
    for r in regimes:
        b, a = best["before", r], best["after", r]
        print(f"{r:9s} before {b:8.1f} us  after {a:8.1f} us  ratio {b / a:6.1f}x")


if __name__ == "__main__":
    main()
