"""Optuna storages from URLs, and the cross-process lock that keeps trial counts exact.

- no URL: ``runs/dse.journal``, an Optuna journal file (appends under ``flock``, safe for
  several processes on one machine);
- ``*.journal`` / ``*.log`` path or ``journal:///path``: the same, elsewhere;
- ``sqlite:///...``, ``postgresql://...``, ``mysql://...``: Optuna's RDB storage, with
  heartbeats, so a trial whose worker died is failed and retried (``dse worker`` on
  several machines shares one PostgreSQL study);
- ``memory:``: in-process only (tests).

Opening for a search (``create=True``) creates the file (and at most one missing parent
directory, such as ``runs/``) and checks that it is writable; opening for reading
(``create=False``: ``dse studies``/``report``/``export``/``worker``) never creates
anything. Either way a bad path is a :class:`~dse.errors.UserError` before anything is
written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import BaseJournalBackend, JournalStorage

from ..errors import DseWarning, StorageError, StorageWriteError, UserError

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

DEFAULT_STORAGE = "runs/dse.journal"
HEARTBEAT_S = 5
GRACE_S = 30

#: Journal records that only add detail to a running trial (Optuna's journal format, which is
#: on disk and so stable: 5 = set_trial_param, 7 = intermediate value, 8 = trial user attr,
#: 9 = trial system attr). They are appended without an fsync; every other record (create a
#: study or trial, a trial's state and values, study attrs) is fsynced before the append
#: returns, and with it every detail written before it. So a trial told COMPLETE is on disk
#: when ``study.tell`` returns; an OS crash can only drop details of trials still RUNNING,
#: which are failed and retried on resume. A hardware-only trial writes ~2 fsyncs, not ~70.
_DETAIL_OPS = frozenset({5, 7, 8, 9})
#: errno values meaning "the storage cannot take more writes" (a fault, not a bug)
_WRITE_FAULTS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


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
        for start in _record_starts(line):
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
        durable = any(log.get("op_code") not in _DETAIL_OPS for log in logs)
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise _write_error(self._path, e) from None
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
                if durable:
                    os.fsync(fd)
            except BaseException as e:
                with contextlib.suppress(OSError):  # shrinking a file needs no space
                    os.ftruncate(fd, size)
                if isinstance(e, OSError):
                    raise _write_error(self._path, e) from None
                raise
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
            raise _write_error(backup, e) from None
        os.ftruncate(fd, keep)
        warnings.warn(f"storage {self._path}: repaired a torn last record ({len(torn)} bytes, saved in {backup}); "
                      "an interrupted write; a trial it belonged to is retried on resume", DseWarning, stacklevel=3)
        return keep


def _record_starts(line: bytes) -> list[int]:
    """Offsets where a journal record may start inside ``line``, last first."""
    out, i = [], line.rfind(b'{"op_code"')
    while i > 0:
        out.append(i)
        i = line.rfind(b'{"op_code"', 0, i)
    return out


def _write_error(path: str, e: OSError) -> StorageWriteError:
    why = e.strerror or str(e)
    hint = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space (quota)",
            errno.EFBIG: "the file hit a size limit (ulimit -f)", errno.EROFS: "the file system is read-only",
            errno.EACCES: "no permission to write", errno.EPERM: "no permission to write"}.get(e.errno, "")
    return StorageWriteError(f"storage {path}: cannot write ({why}){'; ' + hint if hint else ''}", errno_=e.errno)


@dataclass
class StorageHandle:
    url: str
    storage: optuna.storages.BaseStorage
    lock_path: Path | None = None  # file lock for journal / sqlite
    rdb_url: str | None = None     # advisory lock for PostgreSQL
    heartbeat: bool = False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (and threads) while held."""
        with _THREAD_LOCK:
            if self.lock_path is not None:
                try:
                    fh = open(self.lock_path, "a+")
                except OSError as e:
                    raise _write_error(str(self.lock_path), e) from None
                with fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(fh, fcntl.LOCK_UN)
            elif self.rdb_url is not None and self.rdb_url.startswith("postgresql"):
                with _pg_advisory_lock(self.rdb_url):
                    yield
            else:
                yield


_THREAD_LOCK = threading.RLock()
_PG_ENGINES: dict[str, object] = {}
_LOCK_KEY = 0x647365  # "dse"


@contextlib.contextmanager
def _pg_advisory_lock(url: str) -> Iterator[None]:
    import sqlalchemy

    engine = _PG_ENGINES.get(url)
    if engine is None:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        _PG_ENGINES[url] = engine
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()


def check_local_path(path: Path, create: bool, write: bool | None = None, what: str = "storage") -> None:
    """Refuse a local storage file that cannot be used, before anything is created.

    ``create``: the file may be made, with at most one missing parent directory (``runs/``).
    Otherwise the file must exist and be readable. ``write`` (default: ``create``): an
    existing file must be writable."""
    write = create if write is None else write
    shown = str(path)
    if path.is_dir():
        raise UserError(f"{what}: {shown} is a directory; give a file path such as {shown.rstrip('/')}/dse.journal")
    parent = path.parent
    if not create:
        if not path.exists():
            hint = "" if parent.is_dir() else f" (directory {str(parent)!r} does not exist either)"
            raise UserError(f"{what}: no such file {shown!r}{hint}; check the path, or run 'dse search' to "
                            "create a study there")
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as e:
            raise UserError(f"{what}: cannot read {shown!r} ({e.strerror})") from None
        if not write:
            return
    elif not parent.exists():
        if not parent.parent.is_dir():
            raise UserError(f"{what}: directory {str(parent)!r} does not exist; create it first or fix the path")
    elif not parent.is_dir():
        raise UserError(f"{what}: {str(parent)!r} is not a directory")
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as e:
            raise UserError(f"{what}: {shown!r} is not writable ({e.strerror}); use another --storage, or "
                            "read it with 'dse studies'/'dse report'") from None
    elif parent.exists() and not _dir_writable(parent):
        raise UserError(f"{what}: cannot create {shown!r}: directory {str(parent)!r} is not writable")


def _dir_writable(d: Path) -> bool:
    """A real probe (os.access says yes to root on a read-only mount)."""
    try:
        fd, probe = _mkstemp(d)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _mkstemp(d: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=".dse-probe-", dir=d)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as e:
        raise UserError(f"storage: cannot create directory {str(path.parent)!r} ({e.strerror})") from None


def check_storage(url: str | None, create_dirs: bool = True, write: bool | None = None) -> None:
    """The checks :func:`open_storage` makes before touching anything (URL syntax, local
    paths); a command calls it first so that a bad storage is reported before other work.
    Database servers are only reached by :func:`open_storage`."""
    url = url or DEFAULT_STORAGE
    if url == "memory:":
        return
    if url.startswith(("sqlite:", "postgresql", "mysql")):
        if url.startswith("sqlite:"):
            db = sqlite_path(url)
            check_local_path(db, create_dirs, write)
            if db.is_file():
                _check_sqlite_file(db)
        return
    path = journal_path(url)
    check_local_path(path, create_dirs, write)
    if path.is_file():
        _check_journal_file(path)


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise UserError(f"storage: {url!r} names no file; write sqlite:///relative/path.db or "
                        "sqlite:////absolute/path.db")
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def journal_path(url: str) -> Path:
    path_str = url[len("journal:///") - 1:] if url.startswith("journal:///") else url
    if "://" in path_str or not path_str.strip() or url.startswith(("file:", "http:", "https:")):
        raise UserError(f"storage: unsupported URL {_redact(url)!r}; use a file path ending in .journal, "
                        "sqlite:///FILE, postgresql://USER@HOST/DB or memory:")
    return Path(path_str).expanduser()


def open_storage(url: str | None, create_dirs: bool = True, write: bool | None = None) -> StorageHandle:
    """Open the storage at ``url``; ``create_dirs``: create it when absent (a search), else
    it must exist (studies, report, export, worker). ``write`` (default ``create_dirs``):
    an existing local file must be writable (a worker). Any bad URL or path -> UserError,
    raised before anything is created."""
    url = url or DEFAULT_STORAGE
    create = create_dirs
    if url == "memory:":
        return StorageHandle(url, optuna.storages.InMemoryStorage())
    if url.startswith(("sqlite:", "postgresql", "mysql")):
        lock_path = None
        if url.startswith("sqlite:"):
            db = sqlite_path(url)
            check_local_path(db, create, write)
            if (create if write is None else write) and db.parent.is_dir() and not _dir_writable(db.parent):
                raise UserError(f"storage: SQLite needs to write next to {str(db)!r}, but directory "
                                f"{str(db.parent)!r} is not writable")
            if create:
                _make_parent(db)
                if db.exists():
                    _check_sqlite_file(db)
            else:
                _check_sqlite_file(db)
            lock_path = db.with_name(db.name + ".dse-lock")
        try:
            # two searches starting at once must not both create the SQLite schema
            with _flock(lock_path if create else None):
                storage = RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                     heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
                                     engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None)
        except ModuleNotFoundError as e:
            raise UserError(f"storage: {url.split(':')[0]} needs a driver ({e.name}); "
                            "pip install 'termfront-dse[postgres]'") from None
        except Exception as e:  # connection refused, bad credentials, bad URL, not a database
            msg = (str(e).splitlines() or [type(e).__name__])[0][:200]
            raise UserError(f"storage: cannot open {_redact(url)}: {msg}") from None
        return StorageHandle(url, storage, lock_path=lock_path, rdb_url=url, heartbeat=True)
    path = journal_path(url)
    check_local_path(path, create, write)
    if create:
        _make_parent(path)
        if not path.exists():
            try:
                path.touch()
            except OSError as e:
                raise UserError(f"storage: cannot create {str(path)!r} ({e.strerror})") from None
    else:
        _check_journal_file(path)
    backend = JournalFile(path)
    try:
        storage = JournalStorage(backend)
    except StorageError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"storage: {str(path)!r} is not an Optuna journal file ({type(e).__name__}: "
                        f"{str(e)[:100]}); give the storage a search wrote") from None
    return StorageHandle(url, storage, lock_path=path.with_name(path.name + ".dse-lock"))


@contextlib.contextmanager
def _flock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on ``path`` (none when None)."""
    if path is None:
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_sqlite_file(db: Path) -> None:
    with open(db, "rb") as f:
        head = f.read(16)
    if head and head != b"SQLite format 3\x00":
        raise UserError(f"storage: {str(db)!r} is not an SQLite database; check the path")


def _check_journal_file(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"SQLite format 3"):
        raise UserError(f"storage: {str(path)!r} is an SQLite database; pass it as sqlite:///{path}")
    if head and not head.lstrip().startswith(b"{"):
        raise UserError(f"storage: {str(path)!r} is not an Optuna journal file; give the storage a search wrote")


def _redact(url: str) -> str:
    """Hide a password in a URL for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in cred else url
    return url


def storage_fault(e: BaseException, url: str) -> StorageError | None:
    """The :class:`StorageError` an exception from a storage call stands for (disk full,
    read-only, database locked for good), or None for anything else."""
    if isinstance(e, StorageError):
        return e
    if isinstance(e, OSError) and e.errno in _WRITE_FAULTS:
        return _write_error(url, e)
    if isinstance(e, optuna.exceptions.StorageInternalError):
        cause = e.__cause__ or e.__context__
        text = f"{e} {cause or ''}".lower()
        for needle, why in (("disk is full", "no space left on device"), ("disk i/o error", "disk I/O error"),
                            ("readonly database", "the database is read-only"),
                            ("no space left", "no space left on device"), ("file too large", "file too large")):
            if needle in text:
                return StorageWriteError(f"storage {_redact(url)}: cannot write ({why})")
    return None


def worker_id() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def study_names(handle: StorageHandle) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)]


def load_named_study(storage: str | None, name: str | None, purpose: str) -> tuple[optuna.Study, str]:
    """The study ``name`` in an existing storage (the only one there when ``name`` is None), and
    the storage URL.

    ``purpose`` finishes "give the study to ..." in the error naming the choices. Study names
    come from ``optuna.get_all_study_names`` (``study_names`` would deep-copy every trial).
    """
    if name is not None and not name.strip():
        raise UserError("--study: must not be empty")
    handle = open_storage(storage, create_dirs=False)
    names = optuna.get_all_study_names(handle.storage)
    if name is None:
        if len(names) != 1:
            raise UserError(f"--study: give the study to {purpose}; {handle.url} holds "
                            f"{', '.join(repr(n) for n in names) if names else 'no studies'}")
        name = names[0]
    elif name not in names:
        raise UserError(f"--study: no study named {name!r} in {handle.url}; known: "
                        f"{', '.join(repr(n) for n in names) or 'none'}")
    return optuna.load_study(study_name=name, storage=handle.storage), handle.url
