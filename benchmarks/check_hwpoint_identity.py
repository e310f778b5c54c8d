"""Dump ResNet-18 HwReports of random plans for every registered model, from one copy of
``hwmodels`` (ROOT: the directory that holds the package), to compare two trees' results
exactly, e.g. a commit's (``git archive <commit> hwmodels | tar -x -C /tmp/old``) against
the working tree's.

    python benchmarks/check_hwpoint_identity.py ROOT OUT.json

Each plan is evaluated twice (the second may be a memo hit). A second set ("wide/")
adds term and msq schemes and draws the array shape, clock, buffers and device per point. Compare two outputs with
``python -c "import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); print(a==b)" A B``.
"""

from __future__ import annotations

import json
import os
import random
import sys

root = os.path.abspath(sys.argv[1])
sys.path.insert(0, root)
import hwmodels  # noqa: E402

assert hwmodels.__file__.startswith(root), hwmodels.__file__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_hwmodels import resnet18  # noqa: E402  (its own `import hwmodels` finds the one above)

from hwmodels import DesignPoint, QuantScheme, get_model, list_models  # noqa: E402

w = resnet18()
rng = random.Random(1)
pool = [QuantScheme("fixed", a, b) for a in range(2, 9) for b in range(2, 9)]
pool += [QuantScheme(k, b, a) for k in ("pow2", "sp2") for b, a in ((4, 8), (6, 6))]
out = {}


def dump(prefix: str, schemes: list, draw_knobs) -> None:
    """150 random plans per registered model (knobs from ``draw_knobs(knob specs)``, a scheme
    per layer from ``schemes``), each evaluated twice, into ``out``."""
    for name in list_models():
        m = get_model(name)
        kn = {k.name: k for k in m.knobs()}
        for i in range(150):
            knobs = draw_knobs(kn)
            p = DesignPoint.make({l.name: rng.choice(schemes) for l in w.layers}, knobs)
            for rep in range(2):
                try:
                    r = json.dumps(m.evaluate(w, p).to_dict(), sort_keys=True)
                except Exception as e:  # Unsupported and the like must match too
                    r = f"ERR {type(e).__name__} {e}"
                out[f"{prefix}{name}/{i}/{rep}"] = r


def plain_knobs(kn: dict) -> dict:
    knobs = {}
    if "rows" in kn:
        knobs["rows"] = rng.choice([4, 8, 16, 32])
    for k in ("pe_arith", "dataflow"):
        if k in kn:
            knobs[k] = rng.choice(kn[k].choices)
    return knobs


def wide_knobs(kn: dict) -> dict:
    knobs = {"clock_hz": rng.uniform(5e7, 4e8), "weight_buffer_bytes": rng.choice([2048, 16384, 1 << 20]),
             "ofmap_buffer_bytes": rng.choice([1024, 32768]), "rows": rng.choice([2, 7, 16, 48])}
    for k in ("cols", "fixed_cols", "sp2_cols"):
        if k in kn:
            knobs[k] = rng.choice([1, 5, 16, 40])
    for k in ("pe_arith", "dataflow", "serial", "device"):
        if k in kn:
            knobs[k] = rng.choice(kn[k].choices)
    return knobs


dump("", pool, plain_knobs)
# wider plans: term and msq schemes, and new array shapes, clocks and buffers each point
# (every layer misses the per-layer memo; small buffers tile and spill, as in the pre-flight)
wide = pool + [QuantScheme("term", b, a, term_budget=k, group_size=g, term_encoding=e)
               for b, a, k, g, e in ((8, 8, 12, 4, "binary"), (6, 4, 3, 1, "csd"), (8, 6, 20, 16, "binary"))]
wide += [QuantScheme("msq", b, a, sp2_fraction=f) for b, a, f in ((4, 4, 0.5), (6, 8, 0.25), (4, 8, 1.0))]
dump("wide/", wide, wide_knobs)
print(len(out), "evaluations,", sum(v.startswith("ERR") for v in out.values()), "raised")
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
