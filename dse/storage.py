"""Optuna storages from URLs, and the cross-process lock that keeps trial counts exact.

- no URL: ``runs/dse.journal``, an Optuna journal file (file-locked appends, safe for
  several processes on one machine);
- ``*.journal`` / ``*.log`` path or ``journal:///path``: the same, elsewhere;
- ``sqlite:///...``, ``postgresql://...``, ``mysql://...``: Optuna's RDB storage, with
  heartbeats, so a trial whose worker died is failed and retried (``dse worker`` on
  several machines shares one PostgreSQL study);
- ``memory:``: in-process only (tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage

from .errors import UserError

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

DEFAULT_STORAGE = "runs/dse.journal"
HEARTBEAT_S = 5
GRACE_S = 30


class _JournalFile(JournalFileBackend):
    """Optuna's journal file, appending under its file lock but without an fsync per
    record. Each suggested parameter is one record, so the fsync made a hardware-only
    trial (tens of parameters, microseconds of modelling) cost tens of milliseconds.
    Written records sit in the OS page cache: a killed process (SIGKILL) loses nothing;
    only an OS crash or power loss can drop the last records, which the reader tolerates
    (the trials they belong to stay RUNNING and are retried)."""

    def append_logs(self, logs: list[dict]) -> None:  # type: ignore[override]
        import json

        from optuna.storages.journal._file import get_lock_file

        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        with get_lock_file(self._lock):
            with open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))


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
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.lock_path, "a+") as fh:
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


def open_storage(url: str | None, create_dirs: bool = True) -> StorageHandle:
    """Open (creating a local file if needed) the storage at ``url``; bad URL -> UserError."""
    url = url or DEFAULT_STORAGE
    if url == "memory:":
        return StorageHandle(url, optuna.storages.InMemoryStorage())
    if url.startswith(("sqlite:", "postgresql", "mysql")):
        if url.startswith("sqlite:///"):
            db = Path(url[len("sqlite:///"):])
            if create_dirs:
                db.parent.mkdir(parents=True, exist_ok=True)
            lock_path = db.with_name(db.name + ".dse-lock")
        else:
            lock_path = None
        try:
            storage = RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
                                 engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None)
        except ModuleNotFoundError as e:
            raise UserError(f"storage: {url.split(':')[0]} needs a driver ({e.name}); "
                            "pip install 'termfront-dse[postgres]'") from None
        except Exception as e:  # connection refused, bad credentials, bad URL
            msg = str(e).splitlines()[0][:200]
            raise UserError(f"storage: cannot open {_redact(url)}: {msg}") from None
        return StorageHandle(url, storage, lock_path=lock_path, rdb_url=url, heartbeat=True)
    path_str = url[len("journal:///") - 1:] if url.startswith("journal:///") else url
    if "://" in path_str:
        raise UserError(f"storage: unsupported URL {_redact(url)!r}; use a file path ending in .journal, "
                        "sqlite:///FILE, postgresql://USER@HOST/DB or memory:")
    path = Path(path_str)
    if path.exists() and path.is_dir():
        raise UserError(f"storage: {path} is a directory; give a file path such as {path}/dse.journal")
    if create_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise UserError(f"storage: no such file {str(path)!r}")
    backend = _JournalFile(str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
    return StorageHandle(url, JournalStorage(backend), lock_path=path.with_name(path.name + ".dse-lock"))


def _redact(url: str) -> str:
    """Hide a password in a URL for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in cred else url
    return url


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
