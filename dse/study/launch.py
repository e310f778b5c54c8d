"""Starting and resuming a search: the checks made before a study is opened, where a resumed
study stands against its budget, several worker processes on this machine, and signals
turned into a clean stop (the running trial failed and queued again).

``dse search`` and ``dse worker`` parse their options, call these and print; nothing here
prints except a worker process reporting its own fatal storage error."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
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
from ..exiting import quick_exit


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
            resolved = None if resolved_pickle is None else from_payload(resolved_pickle)
            if resolved is None:
                import optuna

                from .create import config_from_study
                from .resolve import resolve

                study = optuna.load_study(study_name=study_name, storage=handle.storage)
                resolved = resolve(config_from_study(study))
            one_torch_thread()
            run_worker(handle, resolved, target, deadline, worker_index=index, seed=seed, start_trials=start_trials)
        except (SearchInterrupted, KeyboardInterrupt):
            quick_exit(130)  # its trial is failed and queued; skip the slow interpreter teardown
        except StorageError as e:
            print(f"dse: error: worker {index}: {e}", file=sys.stderr)
            quick_exit(1)
    quick_exit(0)  # its trials are stored: the parent need not wait for torch's teardown (~0.85 s)


def one_torch_thread() -> int:
    """Give torch one intra-op thread in this process, when torch is loaded (a hardware-only
    worker never loads it); returns the previous count (0: torch not loaded). Training
    already runs on one thread (``dse.training.seeded``); this covers the rest of a trial
    (quantizing, calibrating), where several workers with a thread per core each would
    oversubscribe the cores and burn CPU spinning (~1 s of CPU per 30 demo trials with
    ``--jobs 2``, issue 13, H3-scale)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return 0
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


#: a study's data larger than this (pickled) is not handed to spawned workers: they load it
MAX_PAYLOAD_BYTES = 256 << 20


def worker_payload(resolved: Any) -> Optional[bytes]:
    """What :func:`run_processes` hands its workers so that they skip resolving the stored
    config: the pickled :class:`~dse.study.resolve.Resolved` of a hardware-only study; for a
    study that trains, the same without its workload bundle, plus the bundle's data (the
    parent loads it now: its worker 0 needs it anyway). A spawned worker then neither traces
    the workload again nor rebuilds the data (the digits demo: importing scikit-learn; MNIST-1D:
    ~3 s generating it), which cost the 2-worker run a core's worth of seconds (issue 13,
    H3-scale). None when something does not pickle (e.g. a user's data loader), or the data is
    over :data:`MAX_PAYLOAD_BYTES`: the workers resolve the stored config themselves."""
    if resolved is None:
        return None
    bundle = getattr(resolved, "bundle", None)
    try:
        if bundle is None:
            return pickle.dumps(resolved)
        if not isinstance(type(bundle).__dict__.get("spec"), functools.cached_property) \
                or not isinstance(type(bundle).__dict__.get("_data"), functools.cached_property):
            return None  # not a bundle whose parts can be handed over (see from_payload)
        payload = pickle.dumps((dataclasses.replace(resolved, bundle=None), (bundle.train, bundle.val)))
    except Exception:  # e.g. a workload's lambda or data loader: the workers resolve the config again
        return None
    return payload if len(payload) <= MAX_PAYLOAD_BYTES else None


def from_payload(payload: bytes) -> Any:
    """The :class:`~dse.study.resolve.Resolved` of a :func:`worker_payload`: for a study that
    trains, its workload bundle is made again from the config (``get_workload``, as ``resolve``
    does), with the parent's traced hardware view and data put in the bundle's cached
    ``spec`` and ``_data`` (so neither is computed here)."""
    obj = pickle.loads(payload)
    if not isinstance(obj, tuple):
        return obj
    resolved, data = obj
    from ..workloads import get_workload

    cfg = resolved.cfg
    bundle = get_workload(cfg.workload, **dict(cfg.workload_options))
    bundle.__dict__["spec"] = resolved.workload  # cached_property values live in the instance dict
    bundle.__dict__["_data"] = tuple(data)
    resolved.bundle = bundle
    return resolved


class _Waiting:
    """One worker process started ahead (:class:`Prestarted`), waiting for its work."""

    def __init__(self, ctx: Any, trains: bool):
        self.conn, child = ctx.Pipe()
        # not a daemon: a worker may start processes of its own (e.g. a user's DataLoader workers)
        self.process = ctx.Process(target=_wait_for_work, args=(child, trains))
        self.process.start()
        child.close()
        self.given = False

    def give(self, work: tuple) -> Optional[Any]:
        """Hand it :func:`worker_process`'s arguments; the process, or None when it is gone
        (the caller starts another). The work is sent from a thread: a payload bigger than
        the pipe's buffer (a study's data set) would otherwise hold this process until the
        worker has finished its imports and reads it."""
        self.given = True
        if not self.process.is_alive():
            self.conn.close()
            return None

        def send() -> None:
            try:
                self.conn.send(work)
            except OSError:  # it died meanwhile: the other workers run the budget
                pass
            finally:
                self.conn.close()

        threading.Thread(target=send, daemon=True).start()
        return self.process

    def stop(self) -> None:
        """Stop it before it got work."""
        self.conn.close()
        if self.process.is_alive():
            self.process.terminate()  # it is only importing modules: nothing to clean up
        self.process.join(timeout=5)


def _wait_for_work(conn: Any, trains: bool) -> None:
    """A started-ahead worker: import what a worker needs, then wait for :func:`worker_process`'s
    arguments (exit quietly when the parent closes the pipe: it found a mistake, or had nothing
    to run). Ctrl-C is ignored until the work arrives (no traceback from a process that has
    done nothing; the parent stops it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import optuna  # noqa: F401

        from . import run  # noqa: F401
        if trains:
            # a worker that trains pays these on its first trial otherwise (~2-3 s of CPU:
            # torch, and TorchDynamo, which torch.optim imports on the first optimizer)
            import torch  # noqa: F401
            import torch._dynamo  # noqa: F401
            from .. import training  # noqa: F401
        work = conn.recv()
    except (EOFError, OSError):
        return
    finally:
        conn.close()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    worker_process(*work)


class Prestarted:
    """Worker processes spawned before the parent's own start-up (resolving the config, the
    pre-flight, opening the study, pre-training), so that their interpreter start and imports
    (torch for a study that trains: ~3 s of CPU) run on the core the parent leaves idle then,
    instead of after it, while worker 0 already runs trials (issue 13, H3-scale).
    :func:`run_processes` hands them their work; :meth:`close` stops those that got none (the
    parent exits on a user mistake, or the study had nothing left to run). They import modules
    only: nothing is written before they get their work."""

    def __init__(self, count: int, trains: bool):
        ctx = mp.get_context("spawn")
        self._waiting = [_Waiting(ctx, trains) for _ in range(max(0, count))]

    def take(self, count: int) -> list[_Waiting]:
        """Up to ``count`` of the waiting workers (the caller gives each its work); the rest
        are stopped."""
        taken, rest = self._waiting[:count], self._waiting[count:]
        self._waiting = []
        for w in rest:
            w.stop()
        return taken

    def close(self) -> None:
        """Stop the workers that were not taken."""
        self.take(0)

    def __enter__(self) -> "Prestarted":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_processes(storage_url: str, study_name: str, jobs: int, seed: Optional[int], deadline: Optional[float],
                  target: Optional[int], start_trials: Optional[int] = None,
                  in_process: Optional[Callable[[], Any]] = None, resolved: Any = None,
                  prestarted: Optional[Prestarted] = None) -> None:
    """Run ``jobs`` workers of :func:`worker_process` on the study and wait for them. With
    ``in_process`` (a callable running worker 0 here, e.g. ``run_worker`` with the progress
    line) only workers 1..jobs-1 are spawned: this process has already imported the modules
    and resolved the config, so a spawned copy of worker 0 would only repeat that start-up on
    a core the others need. On KeyboardInterrupt the workers fail and requeue their own
    trials, then it is re-raised (as any error of ``in_process`` is, after the spawned workers
    were stopped). ``resolved``: the parent's :class:`~dse.study.resolve.Resolved`, handed to
    the workers as :func:`worker_payload` says (when it cannot be, each worker resolves the
    stored config itself). ``prestarted``: workers started ahead (:class:`Prestarted`), used
    before spawning any.

    Raises:
        StorageError: a worker could not write the storage.
    """
    payload = worker_payload(resolved)
    ctx = mp.get_context("spawn")
    first = 0 if in_process is None else 1
    ready = prestarted.take(jobs - first) if prestarted is not None else []
    procs = []
    try:
        for i in range(first, jobs):
            work = (storage_url, study_name, i, seed, deadline, target, start_trials, payload)
            p = ready[i - first].give(work) if i - first < len(ready) else None
            if p is None:  # none started ahead, or it died: start one now
                p = ctx.Process(target=worker_process, args=work)
                p.start()
            procs.append(p)
        if in_process is not None:
            threads = one_torch_thread()  # several workers on this machine: one thread each
            try:
                in_process()
            finally:
                if threads:
                    sys.modules["torch"].set_num_threads(threads)
        for p in procs:
            p.join()
    except BaseException:
        for w in ready:
            if not w.given:
                w.stop()
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


__all__ = ["MAX_PAYLOAD_BYTES", "Prestarted", "ResumeState", "check_existing_study", "from_payload",
           "one_torch_thread", "resume_state", "run_processes", "stop_on_signals", "worker_payload",
           "worker_process"]
