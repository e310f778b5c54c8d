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

The journal file itself (appends that survive a crash, torn-record repair) is
:class:`~dse.study.journal.JournalFile`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from ..errors import StorageError, StorageWriteError, UserError
from .journal import WRITE_FAULTS, JournalFile, journal_storage, write_error

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

DEFAULT_STORAGE = "runs/dse.journal"
HEARTBEAT_S = 5
GRACE_S = 30


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
                    raise write_error(str(self.lock_path), e) from None
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


#: SQL storages this process opened (closed by :func:`release_all` before a quick exit)
_OPENED_RDB: "weakref.WeakSet[Any]" = weakref.WeakSet()


def release_all() -> None:
    """Close the database connections of every SQL storage this process opened (before
    :func:`dse.exiting.quick_exit`, which skips the interpreter's own cleanup)."""
    for storage in list(_OPENED_RDB):
        try:
            storage.engine.dispose()
        except Exception:  # already closed, or the server went away: nothing to release
            pass


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
        _OPENED_RDB.add(storage)
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
        storage = journal_storage(backend)
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
    if isinstance(e, OSError) and e.errno in WRITE_FAULTS:
        return write_error(url, e)
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
    the storage URL; see :func:`study_named`."""
    if name is not None and not name.strip():
        raise UserError("--study: must not be empty")
    handle = open_storage(storage, create_dirs=False)
    return study_named(handle, name, purpose), handle.url


def study_named(handle: StorageHandle, name: str | None, purpose: str) -> optuna.Study:
    """The study ``name`` in the open storage ``handle`` (the only one there when ``name`` is None).

    ``purpose`` finishes "give the study to ..." in the error naming the choices. Study names
    come from ``optuna.get_all_study_names`` (``study_names`` would deep-copy every trial).
    """
    if name is not None and not name.strip():
        raise UserError("--study: must not be empty")
    names = optuna.get_all_study_names(handle.storage)
    if name is None:
        if len(names) != 1:
            raise UserError(f"--study: give the study to {purpose}; {handle.url} holds "
                            f"{', '.join(repr(n) for n in names) if names else 'no studies'}")
        name = names[0]
    elif name not in names:
        raise UserError(f"--study: no study named {name!r} in {handle.url}; known: "
                        f"{', '.join(repr(n) for n in names) or 'none'}")
    return optuna.load_study(study_name=name, storage=handle.storage)
