"""A storage's studies and their trials' states, read without importing Optuna (``dse studies``).

Importing Optuna costs about as much as importing numpy, and ``dse studies`` needs only each
study's name, user attrs and its trials' states and attrs. This module reads them straight
from the two local storages ``dse search`` writes (issue 16, start-up):

- an Optuna journal file (one JSON record per line, replayed here with the rules of Optuna's
  ``JournalStorageReplayResult``: a duplicate study name is ignored, a finished trial is
  never changed again, a second RUNNING is rejected, ...);
- an SQLite file of Optuna's RDB storage at a schema version this reader was checked
  against (:data:`SQLITE_SCHEMAS`), opened read-only.

Anything else returns ``None`` and the caller uses Optuna as before: a PostgreSQL or MySQL
URL, ``memory:``, a path Optuna's storage would refuse (its message is the one shown), a
journal with a blank, torn or non-JSON line (:class:`~dse.study.journal.JournalFile` repairs
or reports those), an unknown journal op code or trial state, an SQLite schema or Optuna
major version not checked here, a database that is locked. The views are plain data, the
trial ones with the attributes :func:`dse.study.summary.status_counts` reads, and
``tests/dse/test_peek.py`` checks them against Optuna's own on real storages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record import status_counts_of

__all__ = ["DEFAULT_STORAGE", "StudyView", "TrialView", "read_studies", "status_counts"]

#: the storage of a command given no ``--storage`` (the same value as
#: ``dse.study.storage.DEFAULT_STORAGE``, which imports Optuna; a test keeps them equal)
DEFAULT_STORAGE = "runs/dse.journal"

#: Optuna's TrialState values, as its journal stores them (an int) and its RDB schema (the name)
RUNNING, COMPLETE, PRUNED, FAIL, WAITING = range(5)
STATE_NAMES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")
_FINISHED = frozenset({COMPLETE, PRUNED, FAIL})

#: Optuna journal op codes (``optuna.storages.journal.JournalOperation``; on disk, so stable)
(CREATE_STUDY, DELETE_STUDY, SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR, CREATE_TRIAL, SET_TRIAL_PARAM,
 SET_TRIAL_STATE_VALUES, SET_TRIAL_INTERMEDIATE_VALUE, SET_TRIAL_USER_ATTR, SET_TRIAL_SYSTEM_ATTR,
 DISCARD_TRIALS) = range(11)

#: Optuna RDB schema versions (alembic revision) read here, and the Optuna major versions
#: whose newest schema is one of them (3.2 to 5.x write ``v3.2.0.a``)
SQLITE_SCHEMAS = frozenset({"v3.2.0.a"})
OPTUNA_MAJORS = frozenset({3, 4, 5})


@dataclass(frozen=True)
class TrialView:
    """One trial: ``state`` is Optuna's ``TrialState`` value (``RUNNING`` ... ``WAITING`` here)."""

    number: int
    state: int
    user_attrs: Mapping[str, Any]
    system_attrs: Mapping[str, Any]


@dataclass(frozen=True)
class StudyView:
    name: str
    user_attrs: Mapping[str, Any]
    trials: tuple[TrialView, ...]


class _Decline(Exception):
    """Not readable here: the caller uses Optuna."""


def read_studies(url: str | None) -> list[StudyView] | None:
    """Every study in the storage at ``url`` (None: :data:`DEFAULT_STORAGE`) in Optuna's order
    (by study id), or ``None`` when this reader does not take that storage (see the module
    docstring): then open it with Optuna. Never writes or creates anything."""
    url = url or DEFAULT_STORAGE
    try:
        if url.startswith("sqlite:"):
            return _sqlite(url)
        if url == "memory:" or url.startswith(("postgresql", "mysql", "file:", "http:", "https:")):
            return None
        return _journal(url)
    except (_Decline, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


# --- journal ---------------------------------------------------------------------------------

def _readable_file(path: Path) -> bool:
    """What ``dse.study.storage.check_local_path`` accepts for reading: an existing file that opens."""
    if not path.is_file():
        return False
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError:
        return False
    return True


def _journal(url: str) -> list[StudyView]:
    text = url[len("journal:///") - 1:] if url.startswith("journal:///") else url
    if "://" in text or not text.strip():
        raise _Decline
    path = Path(text).expanduser()
    if not _readable_file(path):
        raise _Decline
    replay = _Replay()
    with open(path, "rb") as f:
        head = f.read(64)
        if head.startswith(b"SQLite format 3") or (head and not head.lstrip().startswith(b"{")):
            raise _Decline
        f.seek(0)
        for line in f:
            if not line.endswith(b"\n"):
                break  # an incomplete last line is being written: not read (as JournalFile)
            if not line.strip():
                raise _Decline  # JournalFile reports a blank line
            try:
                log = json.loads(line)
            except ValueError:
                raise _Decline from None  # a torn record: JournalFile salvages or reports it
            replay.apply(log)
    return replay.studies()


class _Replay:
    """Optuna's ``JournalStorageReplayResult`` reduced to names, states and attrs, as another
    process sees the logs (none of them is this reader's own)."""

    def __init__(self) -> None:
        self._studies: dict[int, dict[str, Any]] = {}  # study id -> {"name", "user_attrs", "trials"}
        self._next_study_id = 0
        self._trials: list[dict[str, Any]] = []        # trial id -> {"state", "user_attrs", "system_attrs"}
        self._trial_study: list[int] = []

    def apply(self, log: dict[str, Any]) -> None:
        op = log["op_code"]
        if op == CREATE_STUDY:
            [int(d) for d in log["directions"]]  # as Optuna reads them
            if log["study_name"] not in {s["name"] for s in self._studies.values()}:
                self._studies[self._next_study_id] = {"name": log["study_name"], "user_attrs": {}, "trials": []}
                self._next_study_id += 1
        elif op == DELETE_STUDY:
            self._studies.pop(log["study_id"], None)
        elif op == SET_STUDY_USER_ATTR:
            study = self._studies.get(log["study_id"])
            if study is not None:
                _one(log["user_attr"])
                study["user_attrs"] = {**study["user_attrs"], **log["user_attr"]}
        elif op == SET_STUDY_SYSTEM_ATTR:
            _one(log["system_attr"])
        elif op == CREATE_TRIAL:
            study = self._studies.get(log["study_id"])
            if study is None:
                return
            log["datetime_start"]
            state = log.get("state", RUNNING)
            if state not in range(5):
                raise _Decline
            trial = {"state": state, "user_attrs": dict(log.get("user_attrs", {})),
                     "system_attrs": dict(log.get("system_attrs", {}))}
            study["trials"].append(len(self._trials))
            self._trials.append(trial)
            self._trial_study.append(log["study_id"])
        elif op in (SET_TRIAL_PARAM, SET_TRIAL_INTERMEDIATE_VALUE):
            return  # params and intermediate values are not read here
        elif op == SET_TRIAL_STATE_VALUES:
            trial = self._updatable(log["trial_id"])
            if trial is None:
                return
            state = log["state"]
            if state not in range(5):
                raise _Decline
            log["values"]
            if state == RUNNING and trial["state"] == RUNNING:
                return  # Optuna: the popped trial is already run by another process
            if state == RUNNING:
                log["datetime_start"]
            if state in _FINISHED:
                log["datetime_complete"]
            trial["state"] = state
        elif op in (SET_TRIAL_USER_ATTR, SET_TRIAL_SYSTEM_ATTR):
            key = "user_attr" if op == SET_TRIAL_USER_ATTR else "system_attr"
            trial = self._updatable(log["trial_id"])
            if trial is not None:
                _one(log[key])
                trial[key + "s"].update(log[key])
        elif op == DISCARD_TRIALS:
            return  # Optuna ignores it too (written only by Rustuna)
        else:
            raise _Decline  # an op this reader does not know: Optuna decides

    def _updatable(self, trial_id: int) -> dict[str, Any] | None:
        if not 0 <= trial_id < len(self._trials):
            return None
        trial = self._trials[trial_id]
        return None if trial["state"] in _FINISHED else trial

    def studies(self) -> list[StudyView]:
        return [StudyView(s["name"], s["user_attrs"],
                          tuple(TrialView(n, self._trials[t]["state"], self._trials[t]["user_attrs"],
                                          self._trials[t]["system_attrs"]) for n, t in enumerate(s["trials"])))
                for _, s in sorted(self._studies.items())]


def _one(attr: Any) -> None:
    if not isinstance(attr, dict) or len(attr) != 1:
        raise _Decline  # Optuna asserts one attr per record


# --- SQLite ----------------------------------------------------------------------------------

def _optuna_major() -> int | None:
    """The installed Optuna's major version, read from its ``version.py`` (not imported)."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("optuna")
    if spec is None or not spec.submodule_search_locations:
        return None
    text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    m = re.search(r"""__version__\s*=\s*["'](\d+)\.""", text)
    return int(m.group(1)) if m else None


def _sqlite(url: str) -> list[StudyView]:
    import sqlite3
    from urllib.parse import quote

    if not url.startswith("sqlite:///") or url == "sqlite:///" or "?" in url:
        raise _Decline
    path = Path(url[len("sqlite:///"):])
    if not _readable_file(path):
        raise _Decline
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise _Decline
    if _optuna_major() not in OPTUNA_MAJORS:
        raise _Decline
    con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=1.0)
    try:
        rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
        if [r[0] for r in rows] not in ([v] for v in SQLITE_SCHEMAS):
            raise _Decline
        studies = con.execute("SELECT study_id, study_name FROM studies ORDER BY study_id").fetchall()
        study_attrs: dict[int, dict[str, Any]] = {}
        for sid, key, value in con.execute("SELECT study_id, key, value_json FROM study_user_attributes"):
            study_attrs.setdefault(sid, {})[key] = json.loads(value)
        trials: dict[int, list[tuple[int, int, int]]] = {}
        for tid, sid, number, state in con.execute(
                "SELECT trial_id, study_id, number, state FROM trials ORDER BY trial_id"):
            trials.setdefault(sid, []).append((tid, number, STATE_NAMES.index(state)))
        attrs: dict[str, dict[int, dict[str, Any]]] = {"user": {}, "system": {}}
        for kind, by_trial in attrs.items():
            for tid, key, value in con.execute(f"SELECT trial_id, key, value_json FROM trial_{kind}_attributes"):
                by_trial.setdefault(tid, {})[key] = json.loads(value)
    except sqlite3.Error:
        raise _Decline from None  # locked, damaged, not Optuna's tables
    finally:
        con.close()
    return [StudyView(name, study_attrs.get(sid, {}),
                      tuple(TrialView(number, state, attrs["user"].get(tid, {}), attrs["system"].get(tid, {}))
                            for tid, number, state in trials.get(sid, [])))
            for sid, name in studies]


# --- counts ----------------------------------------------------------------------------------

def status_counts(trials: tuple[TrialView, ...]) -> dict[str, int]:
    """:func:`dse.study.summary.status_counts` of a study's trials as read here: the very same
    rule (:func:`dse.record.status_counts_of`; the views' states are Optuna's int values)."""
    return status_counts_of(trials)
