"""Ending a ``dse`` process without the interpreter's teardown.

Once torch (and TorchDynamo, which ``torch.optim`` imports) is loaded, a normal interpreter
exit spends ~0.85 s of CPU tearing modules down (measured: a process that imported torch,
TorchDynamo and Optuna and ran one optimizer step, 0.854 s from its last line to its exit,
0.028 s with ``os._exit``). A search pays it once per process at its very end, and ``--jobs 2``
waits for its worker's teardown before its own (issue 13: the finish of a two-worker
fine-tune study was 1.4 s against 0.85 s for one). Everything a command writes is complete by
then (the journal's appends are synchronous, a trial's state fsynced, reports written and
closed), so a command run from the shell, and a spawned worker, end with :func:`quick_exit`:
standard streams flushed, SQL storages' connections closed, then ``os._exit``. Tests calling
``dse.cli.main`` in-process are not affected (only a command started from the shell exits so).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def quick_exit(code: int) -> NoReturn:
    """Flush stdout/stderr, close the connections of SQL storages this process opened, and end
    the process with ``code`` without running the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken pipe: nothing more can be said on it
            pass
    storage = sys.modules.get("dse.study.storage")
    if storage is not None:
        storage.release_all()
    os._exit(code)


def heavy() -> bool:
    """Whether this process loaded torch (whose teardown :func:`quick_exit` skips)."""
    return "torch" in sys.modules
