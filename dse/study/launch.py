"""Starting and resuming a search: the checks made before a study is opened, where a resumed
study stands against its budget, several worker processes on this machine, and signals
turned into a clean stop (the running trial failed and queued again).

``dse search`` and ``dse worker`` parse their options, call these and print; nothing here
prints except a worker process reporting its own fatal storage error."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from ..errors import SearchInterrupted, StorageError


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C or SIGTERM raises KeyboardInterrupt in the main thread at once (the running
    trial is then failed and queued again by ``run_worker``); a second one exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        seen.append(signum)
        if len(seen) > 1:
            os.write(2, b"dse: interrupted again; exiting now\n")
            os._exit(130)
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def check_existing_study(storage_url: Optional[str], cfg: Any) -> None:
    """Refuse resuming a study whose stored config means something else, before the
    pre-flight and before anything is written (an absent local storage has no study)."""
    from .create import check_resumable
    from .storage import DEFAULT_STORAGE, journal_path, open_storage, sqlite_path

    url = storage_url or DEFAULT_STORAGE
    if url == "memory:":
        return
    if url.startswith("sqlite:"):
        if not sqlite_path(url).is_file():
            return
    elif not url.startswith(("postgresql", "mysql")) and not journal_path(url).is_file():
        return
    check_resumable(open_storage(url, create_dirs=False, write=False), cfg)


@dataclass(frozen=True)
class ResumeState:
    """Where a study stands against its trial budget when a search starts."""

    #: trials that count against the budget: every stored trial but crashed ones re-enqueued
    done: int
    #: trials a sampler may already have proposed, all but those still queued (seeds the
    #: samplers, so a resume draws new points)
    stored: int
    #: the budget is reached and nothing waits: a search has nothing to run
    complete: bool


def resume_state(study: Any, target: Optional[int], timeout_s: Optional[float]) -> ResumeState:
    """How far ``study`` is towards ``target`` trials (``timeout_s``: a time budget, which
    never makes a study complete)."""
    from .summary import counted_trials, stored_trials

    trials = study.get_trials(deepcopy=False)
    done = counted_trials(trials)
    complete = (target is not None and done >= target and timeout_s is None
                and not any(t.state.name == "WAITING" for t in trials))
    return ResumeState(done, stored_trials(trials), complete)


def worker_process(storage_url: str, study_name: str, index: int, seed: Optional[int],
                   deadline: Optional[float], target: Optional[int], start_trials: Optional[int] = None,
                   resolved_pickle: Optional[bytes] = None) -> None:
    """One spawned worker of :func:`run_processes`: runs trials of the stored study until the
    budget or the deadline; exits 130 when interrupted, 1 on a storage fault.
    ``resolved_pickle``: the parent's resolved config (then the workload is not traced again
    and a hardware-only worker never imports torch); None: resolved from the stored config."""
    from .run import run_worker
    from .storage import open_storage

    with stop_on_signals():
        try:
            handle = open_storage(storage_url)
            if resolved_pickle is not None:
                resolved = pickle.loads(resolved_pickle)
            else:
                import optuna

                from .create import config_from_study
                from .resolve import resolve

                study = optuna.load_study(study_name=study_name, storage=handle.storage)
                resolved = resolve(config_from_study(study))
            run_worker(handle, resolved, target, deadline, worker_index=index, seed=seed, start_trials=start_trials)
        except (SearchInterrupted, KeyboardInterrupt):
            sys.stderr.flush()
            os._exit(130)  # its trial is failed and queued; skip the slow interpreter teardown
        except StorageError as e:
            print(f"dse: error: worker {index}: {e}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)


def run_processes(storage_url: str, study_name: str, jobs: int, seed: Optional[int], deadline: Optional[float],
                  target: Optional[int], start_trials: Optional[int] = None,
                  in_process: Optional[Callable[[], Any]] = None, resolved: Any = None) -> None:
    """Run ``jobs`` workers of :func:`worker_process` on the study and wait for them. With
    ``in_process`` (a callable running worker 0 here, e.g. ``run_worker`` with the progress
    line) only workers 1..jobs-1 are spawned: this process has already imported the modules
    and resolved the config, so a spawned copy of worker 0 would only repeat that start-up on
    a core the others need. On KeyboardInterrupt the workers fail and requeue their own
    trials, then it is re-raised (as any error of ``in_process`` is, after the spawned workers
    were stopped). ``resolved``: the parent's :class:`~dse.study.resolve.Resolved`, handed to
    the workers of a hardware-only study (no workload bundle: a few KB, pickled); a study that
    trains (its bundle may hold data sets or local functions) has each worker resolve the
    stored config itself, as do hardware-only ones whose config does not pickle.

    Raises:
        StorageError: a worker could not write the storage.
    """
    payload = None
    if resolved is not None and getattr(resolved, "bundle", None) is None:
        try:
            payload = pickle.dumps(resolved)
        except Exception:  # e.g. a workload bundle's lambda: the workers resolve the config again
            payload = None
    ctx = mp.get_context("spawn")
    first = 0 if in_process is None else 1
    procs = [ctx.Process(target=worker_process,
                         args=(storage_url, study_name, i, seed, deadline, target, start_trials, payload))
             for i in range(first, jobs)]
    try:
        for p in procs:
            p.start()
        if in_process is not None:
            in_process()
        for p in procs:
            p.join()
    except BaseException:
        # a Ctrl-C in a terminal reaches the workers too: give them a moment to stop on it
        # (a second signal would make them exit before marking their trial), then SIGTERM
        # those that did not get it (the parent alone was sent SIGTERM, or worker 0 failed)
        end = time.time() + 0.5
        for p in procs:
            if p.pid is not None:
                p.join(timeout=max(0.0, end - time.time()))
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            if p.pid is not None:
                p.join(timeout=5)
        raise
    if any(p.exitcode == 1 for p in procs):
        raise StorageError(f"storage {storage_url}: a worker process could not write it (see above)")


__all__ = ["ResumeState", "check_existing_study", "resume_state", "run_processes", "stop_on_signals",
           "worker_process"]
