"""Storage speed: trials per second of a hardware-only study on each local storage.

A hardware-only trial prices a design point in microseconds, so the storage's writes are
most of its cost. Compared: dse's journal writer (fsync only at records that change a
trial's state), Optuna's own journal backend (fsync after every record), a journal writer
with no fsync at all (dse's writer before issue 15), and SQLite.

    python benchmarks/bench_storage.py [--trials 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace

from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalStorage

from dse.config import parse_config
from dse.storage import JournalFile, StorageHandle, open_storage
from dse.study import open_study, resolve, run_worker

HW = {
    "study": {"name": "bench-storage", "objectives": ["latency_s", "lut", "avg_weight_bits"], "fidelity": "none",
              "trials": 60, "baselines": []},
    "workload": {"name": "resnet18"},
    "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8]},
    "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                 "search": ["rows", "cols", "dataflow"]},
}


class NoSyncJournal(BaseJournalBackend):
    """Appends under flock with no fsync at all (the pre-issue-15 writer, on public API)."""

    def __init__(self, path: str):
        self._inner = JournalFile(path)
        self._path = path

    def read_logs(self, log_number_from):
        return self._inner.read_logs(log_number_from)

    def append_logs(self, logs):
        import fcntl

        data = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in logs).encode()
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
        finally:
            os.close(fd)


def handle_for(kind: str, tmp: str) -> StorageHandle:
    if kind == "dse journal":
        return open_storage(f"{tmp}/a.journal")
    if kind == "sqlite":
        return open_storage(f"sqlite:///{tmp}/a.db")
    path = f"{tmp}/a.journal"
    open(path, "ab").close()
    backend = JournalFileBackend(path) if kind == "optuna journal (fsync each record)" else NoSyncJournal(path)
    return StorageHandle(path, JournalStorage(backend), lock_path=None)


def one(kind: str, trials: int) -> tuple[float, int]:
    cfg = replace(parse_config(HW), trials=trials)
    resolved = resolve(cfg)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        handle = handle_for(kind, tmp)
        open_study(handle, cfg, HW, resolved)
        t0 = time.perf_counter()
        run_worker(handle, resolved, trials, None)
        dt = time.perf_counter() - t0
        records = sum(1 for _ in open(f"{tmp}/a.journal", "rb")) if kind != "sqlite" else 0
    return dt, records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    kinds = ("dse journal", "optuna journal (fsync each record)", "journal, no fsync", "sqlite")
    print(f"hardware-only ResNet-18 study, {args.trials} trials, median of {args.repeats} runs "
          f"(dir {os.environ.get('BENCH_DIR') or tempfile.gettempdir()})")
    base = None
    for kind in kinds:
        times, records = [], 0
        for _ in range(args.repeats):
            dt, records = one(kind, args.trials)
            times.append(dt)
        med = statistics.median(times)
        base = base or med
        per = f"{records / args.trials:.0f} records/trial" if records else ""
        print(f"{kind:<36} {med:7.2f} s  {args.trials / med:7.1f} trials/s  x{med / base:5.2f}  {per}")


if __name__ == "__main__":
    main()
