"""Start-up of hardware-only commands (issue 16): best-of-N time of each command in a fresh
interpreter, as a ratio to ``python -c "import numpy"`` measured in the same rounds.

    python benchmarks/bench_startup.py --rounds 7
    python benchmarks/bench_startup.py --rounds 7 --compare-tree /path/to/old/checkout
    python benchmarks/bench_startup.py --tree /path/to/new --compare-tree /path/to/old --phases 7

Rounds are interleaved (every command once per round), so machine load hits all rows alike.
Two clocks per command: wall time from spawning the process to its exit, and the CPU time
(user + system) the process used, which a loaded machine inflates much less; each ratio is to
the same clock of the baseline. ``dse search`` gets a third figure, "first trial": from
spawning the process to the ``datetime_start`` Optuna stored for the study's first trial
(the time a user waits before the search runs: imports, config, pre-flight, storage).

``--compare-tree`` runs the same commands a second time with ``PYTHONPATH`` set to another
checkout (its ``dse``/``hwmodels`` are imported instead of the installed ones): before/after
in one run. Before timing, every command runs once with bytecode writing on, so no row pays
for compiling a module that changed since its ``.pyc`` (``PYTHONDONTWRITEBYTECODE=1`` would
otherwise make that happen on every run). Also prints whether ``import hwmodels`` loads
networkx and how many modules each command loads (counts do not depend on load). The search
row runs a 3-trial, fidelity-none study on a two-layer SCALE-Sim topology (benchmarks/data/)
in a temporary directory; ``studies``/``export`` read that study from a journal and an SQLite
file written once before the rounds. ``--phases N`` also times, in one process, the parts of
that search until its first trial (imports, resolve, pre-flight, study creation), CPU and wall.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

#: a two-layer SCALE-Sim conv topology and a 3-trial fidelity-none study on it (benchmarks/data/)
DATA = Path(__file__).resolve().parent / "data"
PROBE = ("import sys; m0 = len(sys.modules); import hwmodels; "
         "print(len(sys.modules) - m0, 'networkx' in sys.modules, 'torch' in sys.modules)")
SEARCH = "dse search study.toml (topology, fidelity none, 3 trials)"


#: ``--phases``: one ``dse search`` in this process, with marks around its parts (wall, CPU seconds)
PHASES = """
import contextlib, io, json, os, sys, time
T0, C0 = time.perf_counter(), time.process_time()
marks = {}
def mark(name):
    marks.setdefault(name, (time.perf_counter() - T0, time.process_time() - C0))
import dse.cli, dse.commands.search, dse.study as st, dse.study.preflight as pre
mark("imports")
def wrap(mod, name):
    f = getattr(mod, name)
    def g(*a, **k):
        mark(name + " start")
        try:
            return f(*a, **k)
        finally:
            mark(name + " end")
    setattr(mod, name, g)
for mod, name in ((st, "resolve"), (pre, "run"), (st, "open_study"), (st, "run_worker")):
    wrap(mod, name)
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    dse.cli.main(["search", "study.toml", "--storage", sys.argv[1], "--quiet", "--no-report"])
print(json.dumps(marks))
"""
PHASE_ROWS = (("imports (dse, hwmodels, numpy, Optuna)", "imports", None), ("resolve", "resolve end", "resolve start"),
              ("pre-flight", "run end", "run start"), ("open_study", "open_study end", "open_study start"),
              ("all, until run_worker starts", "run_worker start", None))


def phases(py: str, work: Path, trees: dict[str, dict[str, str]], n: int) -> None:
    """Best of ``n`` per phase of ``dse search`` until its first trial, ms wall / CPU, per tree."""
    runs: dict[str, list[dict]] = {tag: [] for tag in trees}
    for i in range(n):
        for t, (tag, env) in enumerate(trees.items()):
            out = subprocess.run([py, "-c", PHASES, f"runs/phase-{t}-{i}.journal"], cwd=work, env=env,
                                 capture_output=True, text=True, check=True).stdout
            runs[tag].append(json.loads(out.splitlines()[-1]))
    print(f"\n`dse search` until its first trial, in-process phases, best of {n}, ms wall / CPU")
    print("| phase | " + " | ".join(trees) + " |\n|---|" + "---|" * len(trees))
    for label, end, start in PHASE_ROWS:
        cells = []
        for tag in trees:
            w = min(r[end][0] - (r[start][0] if start else 0.0) for r in runs[tag])
            c = min(r[end][1] - (r[start][1] if start else 0.0) for r in runs[tag])
            cells.append(f"{1e3 * w:.0f} / {1e3 * c:.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def commands(py: str, tag: str) -> dict[str, list[str]]:
    dse = [py, "-m", "dse"]
    return {
        "python -c 'import hwmodels'": [py, "-c", "import hwmodels"],
        "dse --help": dse + ["--help"],
        "dse hw list": dse + ["hw", "list"],
        "dse hw eval --topology net.csv --hwmodel systolic": dse + ["hw", "eval", "--topology", "net.csv",
                                                                    "--hwmodel", "systolic"],
        "dse hw eval --workload resnet18 --hwmodel systolic": dse + ["hw", "eval", "--workload", "resnet18",
                                                                     "--hwmodel", "systolic"],
        "dse hw lanes --family xc7": dse + ["hw", "lanes", "--family", "xc7"],
        "dse studies --storage s.journal": dse + ["studies", "--storage", "s.journal"],
        "dse studies --storage sqlite:///s.db": dse + ["studies", "--storage", "sqlite:///s.db"],
        "dse export --storage s.journal --study startup --format csv": dse + [
            "export", "--storage", "s.journal", "--study", "startup", "-o", f"out-{tag}.csv"],
        SEARCH: dse + ["search", "study.toml", "--storage", f"runs/{tag}.journal", "--quiet", "--no-report"],
    }


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system of the process), and the wall time of ``time.time()``
    at the spawn (for the first-trial figure)."""
    with tempfile.TemporaryFile() as err:
        t_epoch, t = time.time(), time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, t_epoch


def first_trial_s(journal: Path, spawned_at: float) -> float:
    """Seconds from the spawn to the first trial's ``datetime_start`` in an Optuna journal."""
    for line in journal.read_text(encoding="utf-8").splitlines():
        log = json.loads(line)
        if log.get("datetime_start"):
            return datetime.fromisoformat(log["datetime_start"]).timestamp() - spawned_at
    raise SystemExit(f"{journal}: no trial started")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tree", type=Path, help="run this checkout (PYTHONPATH=it) instead of the installed one")
    ap.add_argument("--compare-tree", type=Path, help="another checkout, run with PYTHONPATH=it")
    ap.add_argument("--phases", type=int, default=0, metavar="N",
                    help="also time the parts of dse search until its first trial in-process, best of N")
    args = ap.parse_args()
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    shutil.copyfile(DATA / "startup_net.csv", work / "net.csv")
    shutil.copyfile(DATA / "startup_study.toml", work / "study.toml")
    trees = {"installed": dict(os.environ)}
    if args.tree:
        trees = {f"tree {args.tree}": dict(os.environ, PYTHONPATH=str(args.tree.resolve()))}
    if args.compare_tree:
        trees[f"tree {args.compare_tree}"] = dict(os.environ, PYTHONPATH=str(args.compare_tree.resolve()))
    # the study that studies/export read, in both storages; then one untimed run of everything,
    # writing bytecode
    for storage in ("s.journal", "sqlite:///s.db"):
        run([py, "-m", "dse", "search", "study.toml", "--storage", storage, "--quiet", "--no-report"], work,
            next(iter(trees.values())))
    for t, env in enumerate(trees.values()):
        writable = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for cmd in commands(py, f"warm{t}").values():
            run(cmd, work, writable)

    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    first: dict[str, list[float]] = {tag: [] for tag in trees}
    base_wall, base_cpu = [], []
    imports: dict[str, list[tuple[float, float]]] = {tag: [] for tag in trees}
    for r in range(args.rounds):
        w, c, _ = run([py, "-c", "import numpy"], work, dict(os.environ))
        base_wall.append(w)
        base_cpu.append(c)
        for t, (tag, env) in enumerate(trees.items()):
            for name, cmd in commands(py, f"{t}-{r}").items():
                w, c, spawned = run(cmd, work, env)
                wall.setdefault((tag, name), []).append(w)
                cpu.setdefault((tag, name), []).append(c)
                if name == SEARCH:
                    first[tag].append(first_trial_s(work / "runs" / f"{t}-{r}.journal", spawned))
            imports[tag].append(importtime(py, work, env))
    bw, bc = min(base_wall), min(base_cpu)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, best of "
          f"{args.rounds} rounds; baseline python -c 'import numpy': wall {bw:.3f} s, CPU {bc:.3f} s")
    print("| tree | command | wall best s | x numpy | CPU best s | x numpy | modules |\n|---|---|---|---|---|---|---|")
    for (tag, name), ws in wall.items():
        n = modules(commands(py, "count")[name], work, trees[tag])
        print(f"| {tag} | `{name}` | {min(ws):.3f} | {min(ws) / bw:.2f} | {min(cpu[tag, name]):.3f} | "
              f"{min(cpu[tag, name]) / bc:.2f} | {n} |")
        if name == SEARCH:
            f = min(first[tag])
            print(f"| {tag} | `{name}`: first trial started | {f:.3f} | {f / bw:.2f} | | | |")
    for tag, env in trees.items():
        out = subprocess.run([py, "-c", PROBE], cwd=work, env=env, capture_output=True, text=True,
                             check=True).stdout.split()
        print(f"{tag}: import hwmodels loads {out[0]} modules; networkx {out[1]}, torch {out[2]}")
        total, own = zip(*imports[tag])
        print(f"{tag}: -X importtime hwmodels cumulative: best {min(total):.0f} ms, median "
              f"{statistics.median(total):.0f} ms; without numpy: best {min(own):.0f} ms, median "
              f"{statistics.median(own):.0f} ms")
    if args.phases:
        phases(py, work, trees, args.phases)
    shutil.rmtree(work, ignore_errors=True)


def importtime(py: str, work: Path, env: dict[str, str]) -> tuple[float, float]:
    """``-X importtime``: cumulative ms of ``hwmodels``, and of it without ``numpy``."""
    err = subprocess.run([py, "-X", "importtime", "-c", "import hwmodels"], cwd=work, env=env,
                         capture_output=True, text=True, check=True).stderr
    cum = {m.group(2).strip(): int(m.group(1)) / 1e3
           for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \|(.*)", err)}
    return cum["hwmodels"], cum["hwmodels"] - cum.get("numpy", 0.0)


def modules(cmd: list[str], work: Path, env: dict[str, str]) -> int:
    """Modules a command imports (``-X importtime`` lines; the search row writes a fresh journal)."""
    if "search" in cmd:
        cmd = [a if not a.startswith("runs/") else "runs/count.journal" for a in cmd]
        (work / "runs" / "count.journal").unlink(missing_ok=True)
    err = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=work, env=env, capture_output=True,
                         text=True).stderr
    return err.count("import time:") - 1  # the header line


if __name__ == "__main__":
    main()
