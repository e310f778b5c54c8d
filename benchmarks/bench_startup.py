"""Start-up of hardware-only commands (issue 16): best-of-N wall clock of each command in a
fresh interpreter, as a ratio to ``python -c "import numpy"`` measured in the same rounds.

    python benchmarks/bench_startup.py --rounds 7
    python benchmarks/bench_startup.py --rounds 7 --compare-tree /path/to/old/checkout

Rounds are interleaved (every command once per round), so machine load hits all rows alike.
``--compare-tree`` runs the same commands a second time with ``PYTHONPATH`` set to another
checkout (its ``dse``/``hwmodels`` are imported instead of the installed ones): before/after
in one run. Also prints whether ``import hwmodels`` loads networkx and how many modules it
loads (counts do not depend on load). The search row runs a 3-trial, fidelity-none study on
a two-layer SCALE-Sim topology in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: a two-layer SCALE-Sim conv topology and a 3-trial fidelity-none study on it (benchmarks/data/)
DATA = Path(__file__).resolve().parent / "data"
PROBE = ("import sys; m0 = len(sys.modules); import hwmodels; "
         "print(len(sys.modules) - m0, 'networkx' in sys.modules, 'torch' in sys.modules)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--compare-tree", type=Path, help="another checkout, run with PYTHONPATH=it")
    args = ap.parse_args()
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    shutil.copyfile(DATA / "startup_net.csv", work / "net.csv")
    shutil.copyfile(DATA / "startup_study.toml", work / "study.toml")
    trees = {"installed": dict(os.environ)}
    if args.compare_tree:
        trees[f"tree {args.compare_tree}"] = dict(os.environ, PYTHONPATH=str(args.compare_tree.resolve()))

    def commands(r: int, tag: int) -> dict[str, list[str]]:
        return {
            "python -c 'import hwmodels'": [py, "-c", "import hwmodels"],
            "dse --help": [py, "-m", "dse", "--help"],
            "dse hw list": [py, "-m", "dse", "hw", "list"],
            "dse hw eval --topology net.csv --hwmodel systolic": [py, "-m", "dse", "hw", "eval", "--topology",
                                                                  "net.csv", "--hwmodel", "systolic"],
            "dse search study.toml (topology, fidelity none, 3 trials)": [
                py, "-m", "dse", "search", "study.toml", "--storage", f"runs/{tag}-{r}.journal", "--quiet",
                "--no-report"],
        }

    def wall(cmd: list[str], env: dict[str, str]) -> float:
        t = time.perf_counter()
        subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t

    def importtime(env: dict[str, str]) -> tuple[float, float]:
        """``-X importtime``: cumulative ms of ``hwmodels``, and of it without ``numpy``."""
        err = subprocess.run([py, "-X", "importtime", "-c", "import hwmodels"], cwd=work, env=env,
                             capture_output=True, text=True, check=True).stderr
        cum = {m.group(2).strip(): int(m.group(1)) / 1e3
               for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \|(.*)", err)}
        return cum["hwmodels"], cum["hwmodels"] - cum.get("numpy", 0.0)

    best: dict[tuple[str, str], float] = {}
    imports: dict[str, list[tuple[float, float]]] = {tag: [] for tag in trees}
    base = float("inf")
    for r in range(args.rounds):
        base = min(base, wall([py, "-c", "import numpy"], dict(os.environ)))
        for i, (tag, env) in enumerate(trees.items()):
            for name, cmd in commands(r, i).items():
                best[tag, name] = min(best.get((tag, name), float("inf")), wall(cmd, env))
            imports[tag].append(importtime(env))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
          f"best of {args.rounds} rounds; baseline python -c 'import numpy': {base:.3f} s")
    print("| tree | command | best s | x import numpy |\n|---|---|---|---|")
    for (tag, name), v in best.items():
        print(f"| {tag} | `{name}` | {v:.2f} | {v / base:.2f} |")
    for tag, env in trees.items():
        out = subprocess.run([py, "-c", PROBE], cwd=work, env=env, capture_output=True, text=True,
                             check=True).stdout.split()
        print(f"{tag}: import hwmodels loads {out[0]} modules; networkx {out[1]}, torch {out[2]}")
        total, own = zip(*imports[tag])
        print(f"{tag}: -X importtime hwmodels cumulative: best {min(total):.0f} ms, median "
              f"{statistics.median(total):.0f} ms; without numpy: best {min(own):.0f} ms, median "
              f"{statistics.median(own):.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
