"""Where a search's wall time goes: start-up, the trial phase, the finish (issue 13).

Runs ``dse search CONFIG --jobs N`` on a fresh journal file, then reads the journal: start = from
launching the command to the first trial's start, phase = first trial start to last trial end,
finish = last trial end to the command's exit; also the median trial time.

    python benchmarks/bench_phases.py CONFIG [--jobs 1,2] [--reps 2] [--storage /tmp/phases.journal]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from optuna.storages.journal import JournalFileBackend, JournalStorage


def run(config: str, jobs: int, path: str) -> str:
    for f in (path, path + ".dse-lock"):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "dse.cli", "search", config, "--storage", path, "--study", "phases",
                    "--jobs", str(jobs), "--no-report", "--quiet"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    t1 = time.time()
    storage = JournalStorage(JournalFileBackend(path))
    study = storage.get_all_studies()[0]
    trials = [t for t in storage.get_all_trials(study._study_id) if t.datetime_complete]
    first = min(t.datetime_start for t in trials).timestamp()
    last = max(t.datetime_complete for t in trials).timestamp()
    each = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    return (f"--jobs {jobs}: wall {t1 - t0:.2f} s = start {first - t0:.2f} + trial phase {last - first:.2f} "
            f"+ finish {t1 - last:.2f}; median trial {statistics.median(each):.3f} s, {len(trials)} trials")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--storage", default="/tmp/phases.journal")
    args = ap.parse_args()
    for _ in range(args.reps):
        for jobs in (int(j) for j in args.jobs.split(",")):
            print(run(args.config, jobs, args.storage), flush=True)


if __name__ == "__main__":
    main()
