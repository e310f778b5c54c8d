"""The Optuna journal file, written so that no failure leaves it unreadable (:class:`JournalFile`),
and the one-line error a failed storage write becomes (:func:`write_error`)."""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import os
import threading
import time
import warnings
from typing import Any, Iterator

from optuna.distributions import BaseDistribution, check_distribution_compatibility, json_to_distribution
from optuna.storages.journal import BaseJournalBackend, JournalStorage

from ..errors import DseWarning, StorageError, StorageWriteError

#: Journal records that only add detail to a running trial (Optuna's journal format, which is
#: on disk and so stable: 5 = set_trial_param, 7 = intermediate value, 8 = trial user attr,
#: 9 = trial system attr). They are appended without an fsync; every other record (create a
#: study or trial, a trial's state and values, study attrs) is fsynced (outside the file lock)
#: before the append returns, and with it every detail written before it. So a trial told
#: COMPLETE is on disk when ``study.tell`` returns; an OS crash can only drop details of trials
#: still RUNNING, which are failed and retried on resume. A hardware-only trial writes 1 fsync
#: (its state), not ~70.
DETAIL_OPS = frozenset({5, 7, 8, 9})
#: creating a RUNNING trial (``study.ask``; 4 = create_trial, no "state" field or 0 = RUNNING) is
#: not fsynced either (H-scale2, issue 13: it ran under the workers' study lock, one fsync per
#: trial): on an OS crash such a trial can only vanish whole, as a RUNNING one; a trial created
#: in any other state (queued, or added COMPLETE) is fsynced.
CREATE_TRIAL = 4


def durable(log: dict[str, Any]) -> bool:
    """Whether appending ``log`` must reach the disk before the append returns."""
    op = log.get("op_code")
    return op not in DETAIL_OPS and not (op == CREATE_TRIAL and log.get("state", 0) == 0)


#: errno values meaning "the storage cannot take more writes" (a fault, not a bug)
WRITE_FAULTS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class JournalFile(BaseJournalBackend):
    """An Optuna journal file (the format of ``optuna.storages.journal.JournalFileBackend``:
    one JSON record per line) written so that no failure leaves it unreadable.

    - Appends hold an exclusive ``flock`` on the file itself (released by the kernel when a
      process dies, so a killed writer never leaves a stale lock behind).
    - A batch is written with plain ``write`` calls; if any fails (disk full, file-size
      limit, read-only remount, Ctrl-C between two calls) the file is truncated back to
      where the batch began, and :class:`~dse.errors.StorageWriteError` is raised: no torn
      record is ever left behind by this writer.
    - A torn last record left by something else (a power loss, an older writer that hit a
      full disk) is found under the lock before the next append: the file is truncated to
      its last complete record, the torn bytes saved next to it (``FILE.torn-<time>``), and
      a one-line :class:`~dse.errors.DseWarning` says so. Nothing is appended after it.
    - Reading stops quietly at an incomplete last line (a writer may be mid-append). A
      complete line that is not JSON (an older writer appended after a torn record) is
      salvaged: the record that starts inside it is kept, the torn prefix dropped.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = str(path)
        self._offsets: dict[int, int] = {0: 0}  # record number -> byte offset of its line
        self._salvaged: set[int] = set()

    @property
    def path(self) -> str:
        return self._path

    # -- reading -------------------------------------------------------------------------
    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        try:
            f = open(self._path, "rb")
        except FileNotFoundError:
            return
        with f:
            # offsets are recorded for every line read, so the wanted one is almost always known;
            # scanning all of them per read made a 2,000-trial study quadratic (H8, issue 13)
            start = log_number_from if log_number_from in self._offsets else \
                max((n for n in self._offsets if n <= log_number_from), default=0)
            f.seek(self._offsets[start])
            number = start
            for line in f:
                if not line.endswith(b"\n"):
                    break  # incomplete last line: being written, or torn (repaired on the next append)
                self._offsets.setdefault(number + 1, self._offsets[number] + len(line))
                if number >= log_number_from:
                    if not line.strip():
                        raise StorageError(f"storage {self._path}: blank line {number + 1} in the journal; "
                                                "the file was edited by hand or is damaged")
                    yield self._decode(line, number)
                number += 1

    def _decode(self, line: bytes, number: int) -> dict[str, Any]:
        try:
            return json.loads(line)
        except ValueError:
            pass
        # an older writer appended after a torn record: "<torn bytes>{record}\n"
        for start in record_starts(line):
            try:
                log = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(log, dict) and "op_code" in log:
                if number not in self._salvaged:
                    self._salvaged.add(number)
                    warnings.warn(f"storage {self._path}: record {number + 1} followed a torn record; "
                                  f"dropped {start} torn bytes and kept the record", DseWarning, stacklevel=2)
                return log
        raise StorageError(f"storage {self._path}: record {number + 1} of the journal is not JSON and "
                                "cannot be salvaged; the file is damaged (keep a copy, then truncate it before "
                                "that line to recover the trials written before it)")

    # -- writing -------------------------------------------------------------------------
    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if not logs:
            return
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
        sync = any(durable(log) for log in logs)
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise write_error(self._path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                size = self._repair(fd, size)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            except BaseException as e:
                with contextlib.suppress(OSError):  # shrinking a file needs no space
                    os.ftruncate(fd, size)
                if isinstance(e, OSError):
                    raise write_error(self._path, e) from None
                raise
            if sync:
                # the batch is whole in the file: let other writers append while it goes to disk
                # (an fsync held under the lock serialised two workers, issue 13 H-scale2). A
                # failed fsync raises, but the records stay: they are complete, and others'
                # records may follow them now, so truncating could only lose those.
                fcntl.flock(fd, fcntl.LOCK_UN)
                try:
                    os.fsync(fd)
                except OSError as e:
                    raise write_error(self._path, e) from None
        finally:
            os.close(fd)  # also releases the flock

    def _repair(self, fd: int, size: int) -> int:
        """Truncate a torn last record (we hold the lock, so no writer is mid-append);
        returns the new size."""
        keep, pos, chunk = 0, size, 1 << 16
        while pos > 0:
            lo = max(0, pos - chunk)
            block = os.pread(fd, pos - lo, lo)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = lo + i + 1
                break
            pos = lo
        torn = os.pread(fd, size - keep, keep)
        backup = f"{self._path}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        try:
            with open(backup, "wb") as b:
                b.write(torn)
        except OSError as e:
            raise write_error(backup, e) from None
        os.ftruncate(fd, keep)
        warnings.warn(f"storage {self._path}: repaired a torn last record ({len(torn)} bytes, saved in {backup}); "
                      "an interrupted write; a trial it belonged to is retried on resume", DseWarning, stacklevel=3)
        return keep


def record_starts(line: bytes) -> list[int]:
    """Offsets where a journal record may start inside ``line``, last first."""
    out, i = [], line.rfind(b'{"op_code"')
    while i > 0:
        out.append(i)
        i = line.rfind(b'{"op_code"', 0, i)
    return out


def write_error(path: str, e: OSError) -> StorageWriteError:
    why = e.strerror or str(e)
    hint = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space (quota)",
            errno.EFBIG: "the file hit a size limit (ulimit -f)", errno.EROFS: "the file system is read-only",
            errno.EACCES: "no permission to write", errno.EPERM: "no permission to write"}.get(e.errno, "")
    return StorageWriteError(f"storage {path}: cannot write ({why}){'; ' + hint if hint else ''}", errno_=e.errno)


# -- replaying the journal ----------------------------------------------------------------
try:  # Optuna's replay of journal records (private); without it, plain JournalStorage is used
    from optuna.storages.journal._storage import JournalStorageReplayResult as _Replay
except ImportError:  # pragma: no cover - another Optuna version
    _Replay = None


class _NoLogs(BaseJournalBackend):
    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        return iter(())

    def append_logs(self, logs: list[dict[str, Any]]) -> None:  # pragma: no cover - never called
        raise AssertionError("no writes here")


if _Replay is not None and hasattr(_Replay, "_apply_set_trial_param"):
    class _FastReplay(_Replay):
        """Optuna's replay, with the record every suggested parameter writes (~27 per
        hardware-only trial, the most frequent one) applied without re-parsing its distribution
        and without scanning the study's trials for the first one holding that parameter:
        both are kept per study. Each worker replays every worker's records, so this cost is
        paid twice with two workers (issue 13, H3-scale). The outcome is Optuna's own (the same
        trials, the same compatibility check against the lowest-numbered trial holding the
        parameter, the same errors)."""

        def __init__(self, worker_id_prefix: str) -> None:
            super().__init__(worker_id_prefix)
            self._dists: dict[str, BaseDistribution] = {}
            #: study id -> parameter -> (lowest trial id holding it, its distribution's JSON)
            self._first: dict[int, dict[str, tuple[int, str]]] = {}

        def _dist(self, js: str) -> BaseDistribution:
            d = self._dists.get(js)
            if d is None:
                d = self._dists[js] = json_to_distribution(js)
            return d

        def _holds(self, trial_id: int, name: str, js: str) -> None:
            first = self._first.setdefault(self._trial_id_to_study_id[trial_id], {})
            prev = first.get(name)
            if prev is None or trial_id <= prev[0]:
                first[name] = (trial_id, js)

        def _apply_create_trial(self, log: dict[str, Any]) -> None:
            before = len(self._trials)
            super()._apply_create_trial(log)
            if len(self._trials) > before:  # created (with the parameters of a retried or added trial)
                for name, js in (log.get("distributions") or {}).items():
                    if name in (log.get("params") or {}):
                        self._holds(before, name, js)

        def _apply_set_trial_param(self, log: dict[str, Any]) -> None:
            trial_id = log["trial_id"]
            if not self._trial_exists_and_updatable(trial_id, log):
                return
            name, js = log["param_name"], log["distribution"]
            dist = self._dist(js)
            prev = self._first.get(self._trial_id_to_study_id[trial_id], {}).get(name)
            if prev is not None and prev[1] != js:  # identical JSON: the same distribution, compatible
                try:
                    check_distribution_compatibility(self._dist(prev[1]), dist)
                except Exception:
                    if self._is_issued_by_this_worker(log):
                        raise
                    return
            trial = copy.copy(self._trials[trial_id])
            trial.params = {**trial.params, name: dist.to_external_repr(log["param_value_internal"])}
            trial.distributions = {**trial.distributions, name: dist}
            self._trials[trial_id] = trial
            self._holds(trial_id, name, js)
else:  # pragma: no cover - another Optuna version
    _FastReplay = None


class BatchingJournalStorage(JournalStorage):
    """Optuna's ``JournalStorage`` that, inside :meth:`batch`, appends the details of a trial
    this thread writes (parameters, user and system attrs, intermediate values: ``DETAIL_OPS``)
    together instead of one locked append and one read of the file per record (~55 per
    hardware-only trial, each an open, flock, write and close plus a read: with two workers
    the journal's lock and the re-reads were a fifth of a trial, issue 13).

    A held record is applied to this process's view at once (so every read here sees it, as
    before) and appended with the next record that is not a detail (a trial's state, a new
    trial, a study attr), at :meth:`flush`, or when the outermost :meth:`batch` ends; reading
    it back (before anything newer is held, or at the next read) applies it again, which changes
    nothing: no newer value of its key can be held in between.
    What other workers see is unchanged but later: a held record is invisible to them until
    appended, so callers flush before they release a lock that others read under (the claim
    of a point, ``dse/study/run.py``). A worker killed inside a batch leaves its running trial
    without the held details; the trial is failed and retried on resume like any trial of a
    killed worker. Outside :meth:`batch` (and in other threads) every write is Optuna's."""

    def __init__(self, backend: BaseJournalBackend) -> None:
        self._setup_batching()
        super().__init__(_NoLogs())  # Optuna's own set-up, with nothing to replay yet
        self._backend = backend
        if _FastReplay is not None:
            self._replay_result = _FastReplay(self._worker_id_prefix)
        with self._thread_lock:
            self._sync_with_backend()

    def _setup_batching(self) -> None:
        self._held: list[dict[str, Any]] = []
        self._batch_local = threading.local()
        self._skip_sync = False
        self._unread = False  # records flushed and not yet read back

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        if _FastReplay is not None:
            self._replay_result = _FastReplay(self._worker_id_prefix)
        self._setup_batching()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for k in ("_held", "_batch_local", "_skip_sync", "_unread"):
            state.pop(k, None)
        return state

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold this thread's detail records until the batch ends (or a non-detail write)."""
        local = self._batch_local
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                self.flush()

    def flush(self) -> None:
        """Append the held records now (one locked append). They are read back before the next
        record is held (or at the next read): read back after a newer value of the same key was
        held, they would hide it from this process until that one is appended too. Not at once:
        the claim's flush runs under the study lock, which other workers wait for."""
        with self._thread_lock:
            if self._held:
                held, self._held = self._held, []
                self._backend.append_logs(held)
                self._unread = True

    def _write_log(self, op_code: int, extra_fields: dict[str, Any]) -> None:
        log = {"op_code": op_code, "worker_id": self._replay_result.worker_id, **extra_fields}
        if op_code in DETAIL_OPS and getattr(self._batch_local, "depth", 0) > 0:
            if op_code in (8, 9):  # an attr's value JSON cannot hold raises here, as at Optuna's append,
                json.dumps(log)  # not at a later append, dropping the others (params, values: numbers)
            if self._unread:  # what was flushed comes back before anything newer is held
                JournalStorage._sync_with_backend(self)
                self._unread = False
            read = self._replay_result.log_number_read
            try:
                self._replay_result.apply_logs([log])  # this process sees it now (Optuna's errors raise
            finally:  # here, and then nothing is written) ... without counting it as read from the file
                self._replay_result.log_number_read = read
            self._held.append(log)
            self._skip_sync = True  # the caller's sync would only re-read the file for it
            return
        held, self._held = self._held, []
        self._backend.append_logs(held + [log])

    def get_trial(self, trial_id: int) -> Any:
        """Inside a batch, the trial this thread is running is read from this process's view
        without reading the file (only this worker writes it; Optuna reads it back on every
        ``set_constraint`` and ``tell``); anything else as Optuna does."""
        if getattr(self._batch_local, "depth", 0) > 0:
            with self._thread_lock:
                if trial_id == self._replay_result.owned_trial_id:
                    return self._replay_result.get_trial(trial_id)
        return super().get_trial(trial_id)

    def _sync_with_backend(self) -> None:
        if self._skip_sync:
            self._skip_sync = False
            return
        self._unread = False
        super()._sync_with_backend()


def journal_storage(backend: BaseJournalBackend) -> JournalStorage:
    """An Optuna ``JournalStorage`` on ``backend`` that replays records with :class:`_FastReplay`
    (Optuna's own replay where that cannot be installed) and can hold a trial's details to
    append them together (:class:`BatchingJournalStorage`)."""
    return BatchingJournalStorage(backend)


@contextlib.contextmanager
def batched(storage: Any) -> Iterator[None]:
    """``storage.batch()`` where the storage has it (a journal file), else nothing."""
    batch = getattr(storage, "batch", None)
    if batch is None:
        yield
    else:
        with batch():
            yield


def flush(storage: Any) -> None:
    """Append what ``storage`` holds in a :func:`batched` block (a no-op elsewhere)."""
    f = getattr(storage, "flush", None)
    if f is not None:
        f()
