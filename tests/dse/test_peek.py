"""dse.peek reads a storage's studies without Optuna (``dse studies``, issue 16): on real storages
written by Optuna (journal and SQLite, this version's and an older dse's), every study, trial
state and attr it reads equals Optuna's own view, its counts equal ``status_counts``, and the
command prints the same with and without it. What it does not take, it leaves to Optuna."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import optuna
import pytest
from cli_harness import run_inprocess

from dse import peek
from dse.study import status_counts
from dse.study.storage import DEFAULT_STORAGE, open_storage

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "old_studies"  # written by dse at f6932b4 (issue 17 phase 1)


def _populate(url: str) -> None:
    """Two studies with trials in every state dse stores, one deleted study, attrs of each kind."""
    storage = open_storage(url).storage
    gone = optuna.create_study(study_name="deleted", storage=storage)
    gone.enqueue_trial({"x": 1.0})
    a = optuna.create_study(study_name="a-study", storage=storage, directions=["minimize", "minimize"])
    a.set_user_attr("objectives", ["latency_s", "lut"])
    a.set_user_attr("config", {"name": "a-study", "nested": [1, 2.5, None]})
    storage.set_study_system_attr(a._study_id, "sys", 1)
    t = a.ask()
    t.suggest_float("x", 0, 1)
    t.set_user_attr("status", "complete")
    a.tell(t, [1.0, 2.0])
    for status in ("infeasible", "abandoned", "screened out", "unknown-status"):
        t = a.ask()
        t.set_user_attr("status", status)
        a.tell(t, state=optuna.trial.TrialState.PRUNED)
    t = a.ask()
    t.set_user_attr("duplicate_of", 0)
    a.tell(t, state=optuna.trial.TrialState.FAIL)
    t = a.ask()
    t.set_user_attr("error", "a plug-in bug")
    a.tell(t, state=optuna.trial.TrialState.FAIL)
    a.enqueue_trial({"x": 0.5}, user_attrs={"baseline": "fixed8"})
    t = a.ask()  # takes the queued trial: WAITING -> RUNNING
    storage.set_trial_system_attr(t._trial_id, "failed_trial", 5)  # a retry of trial 5
    a.ask()  # RUNNING, never told
    a.enqueue_trial({"x": 0.25})  # stays WAITING
    optuna.delete_study(study_name="deleted", storage=storage)
    b = optuna.create_study(study_name="b-empty", storage=storage)
    b.set_user_attr("objectives", ["accuracy"])


@pytest.fixture(scope="module")
def populated(tmp_path_factory) -> dict[str, Path]:
    """A journal file and an SQLite file, each holding what :func:`_populate` writes; tests copy them."""
    d = tmp_path_factory.mktemp("populated")
    _populate(str(d / "s.journal"))
    _populate(f"sqlite:///{d / 's.db'}")
    return {"journal": d / "s.journal", "sqlite": d / "s.db"}


def _copy(populated: dict[str, Path], kind: str, tmp_path: Path) -> str:
    """The URL of a private copy of the populated ``kind`` storage."""
    dst = tmp_path / populated[kind].name
    shutil.copyfile(populated[kind], dst)
    return str(dst) if kind == "journal" else f"sqlite:///{dst}"


def _optuna_view(url: str) -> list[tuple]:
    handle = open_storage(url, create_dirs=False)
    out = []
    for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False):
        study = optuna.load_study(study_name=s.study_name, storage=handle.storage)
        trials = [(t.number, t.state.value, t.user_attrs, t.system_attrs) for t in study.get_trials(deepcopy=False)]
        out.append((s.study_name, s.n_trials, study.user_attrs, trials, status_counts(study)))
    return out


def _peek_view(url: str) -> list[tuple]:
    views = peek.read_studies(url)
    assert views is not None, f"dse.peek declined {url}"
    return [(v.name, len(v.trials), dict(v.user_attrs),
             [(t.number, t.state, dict(t.user_attrs), dict(t.system_attrs)) for t in v.trials],
             peek.status_counts(v.trials)) for v in views]


def _old_storages(tmp_path: Path) -> list[str]:
    journal = tmp_path / "old.journal"
    journal.write_bytes(gzip.decompress((OLD / "f6932b4.journal.gz").read_bytes()))
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(gzip.decompress((OLD / "f6932b4.sql.gz").read_bytes()).decode())
    con.close()
    return [str(journal), f"sqlite:///{db}"]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_reads_what_optuna_reads(populated, tmp_path, kind):
    url = _copy(populated, kind, tmp_path)
    ours, theirs = _peek_view(url), _optuna_view(url)
    assert [s[0] for s in ours] == ["a-study", "b-empty"]
    assert ours == theirs
    counts = ours[0][4]
    assert (counts["complete"], counts["infeasible"], counts["abandoned"], counts["screened out"], counts["failed"],
            counts["duplicate"], counts["running"], counts["waiting"], counts["crashed_and_retried"]) == \
        (1, 2, 1, 1, 1, 1, 2, 1, 1)


def test_reads_old_studies_like_optuna(tmp_path):
    """Journal and SQLite storages written by an older dse (before the typed records of issue 17)."""
    for url in _old_storages(tmp_path):
        ours = _peek_view(url)
        assert [(s[0], s[1]) for s in ours] == [("old-a", 4), ("old-b", 3)]
        assert ours == _optuna_view(url)


def test_journal_replay_follows_optuna_rules(populated, tmp_path):
    """Records Optuna ignores: a second study of the same name, changes to a finished trial,
    a second RUNNING of a running trial, Rustuna's DISCARD_TRIALS; an incomplete last line."""
    path = Path(_copy(populated, "journal", tmp_path))
    logs = [json.loads(line) for line in path.read_text().splitlines()]
    finished = next(i for i, log in enumerate(logs) if log["op_code"] == 6 and log["state"] == 1)
    tid = logs[finished]["trial_id"]
    study = optuna.load_study(study_name="a-study", storage=open_storage(str(path), create_dirs=False).storage)
    running = next(t._trial_id for t in study.get_trials() if t.state == optuna.trial.TrialState.RUNNING)
    extra = [{"op_code": 0, "worker_id": "w", "study_name": "a-study", "directions": [1]},
             {"op_code": 8, "worker_id": "w", "trial_id": tid, "user_attr": {"status": "failed"}},
             {"op_code": 6, "worker_id": "w", "trial_id": tid, "state": 3, "values": None,
              "datetime_complete": "2026-01-01T00:00:00"},
             {"op_code": 6, "worker_id": "w", "trial_id": running, "state": 0, "values": None,
              "datetime_start": "2026-01-01T00:00:00"},
             {"op_code": 10, "worker_id": "w", "study_id": 1, "trial_ids": []}]
    with open(path, "a") as f:
        f.write("".join(json.dumps(log) + "\n" for log in extra) + '{"op_code": 4, "worker_id"')
    assert _peek_view(str(path)) == _optuna_view(str(path))


def test_studies_command_prints_the_same_without_optuna(populated, tmp_path, monkeypatch):
    urls = [_copy(populated, "journal", tmp_path), _copy(populated, "sqlite", tmp_path)] + _old_storages(tmp_path)
    fast = [run_inprocess(["studies", "--storage", url], tmp_path) for url in urls]
    monkeypatch.setattr(peek, "read_studies", lambda url: None)  # as a storage dse.peek does not take
    slow = [run_inprocess(["studies", "--storage", url], tmp_path) for url in urls]
    assert [(r.returncode, r.stdout, r.stderr) for r in fast] == [(r.returncode, r.stdout, r.stderr) for r in slow]
    assert "a-study" in fast[0].stdout and "old-b" in fast[3].stdout
    empty = tmp_path / "empty.journal"
    empty.touch()
    assert run_inprocess(["studies", "--storage", str(empty)], tmp_path).stdout.strip() == f"no studies in {empty}"


def test_leaves_to_optuna_what_it_does_not_take(populated, tmp_path):
    path = Path(_copy(populated, "journal", tmp_path))
    good = path.read_text()
    cases = {"blank line": good + "\n", "torn record": good + '{"op_code": 8, "wor{"op_code": 10}\n',
             "unknown op": good + '{"op_code": 99, "worker_id": "w"}\n',
             "unknown state": good + '{"op_code": 4, "worker_id": "w", "study_id": 1, "state": 9, '
                                     '"datetime_start": null}\n',
             "not a journal": "study,trials\n"}
    for name, text in cases.items():
        path.write_text(text)
        assert peek.read_studies(str(path)) is None, name
    db = Path(_copy(populated, "sqlite", tmp_path)[len("sqlite:///"):])
    other = tmp_path / "other.db"
    shutil.copyfile(db, other)
    con = sqlite3.connect(other)
    con.execute("UPDATE alembic_version SET version_num = 'v9.9.9.z'")
    con.commit()
    con.close()
    for url in (f"sqlite:///{other}", f"sqlite:///{db}?timeout=5", "postgresql://u@localhost/db", "memory:",
                str(tmp_path / "missing.journal"), str(tmp_path), f"sqlite:///{path}", str(db)):
        assert peek.read_studies(url) is None, url
    assert peek.read_studies(f"sqlite:///{db}") is not None


def test_default_storage_is_the_storage_modules():
    assert peek.DEFAULT_STORAGE == DEFAULT_STORAGE
