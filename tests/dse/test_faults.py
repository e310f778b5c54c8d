"""Faults reproduced for real: a full disk (a file-size limit, RLIMIT_FSIZE, on a real
subprocess: writes past it fail with EFBIG exactly as on a full disk, after a short write),
torn journal records left by Optuna's own writer, read-only storages (a real unprivileged
process), Ctrl-C and SIGTERM sent to a real search, two searches started at the same
instant, and a plug-in hardware model or workload raising in the middle of a study."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from dse.config import parse_config
from dse.storage import open_storage
from dse.study import counted_trials, open_study, resolve, run_worker

from cli_harness import run_inprocess
from conftest import hw_only_toml  # tests/conftest.py: the hardware-only study TOML

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

HW_TOML = hw_only_toml("faulty", "resnet18", trials="{trials}", kinds='["fixed", "sp2"]', space="shared = true\n",
                       device="XCVU9P", hardware='search = ["rows", "cols", "dataflow"]\n'
                                                 "ranges = {{rows = [4, 64], cols = [4, 64]}}\n")  # .format(trials=N)


def _limit(nbytes: int | None):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        if nbytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def dse(*args, cwd, limit=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, preexec_fn=_limit(limit))


def trials_of(url: str, name: str = "faulty"):
    return optuna.load_study(study_name=name, storage=open_storage(url, create_dirs=False).storage).get_trials()


def optuna_reads(path: Path, name: str = "faulty"):
    """The file read by Optuna's own journal backend (no dse code)."""
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path)))).get_trials()


def _last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    return lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_disk_full_mid_search_loses_no_completed_trial(tmp_path, kind):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(HW_TOML.format(trials=8))
    path = tmp_path / ("s.journal" if kind == "journal" else "s.db")
    url = str(path) if kind == "journal" else f"sqlite:///{path}"
    _library_search(cfg, url)
    before = {t.number: (t.state, t.values, t.params) for t in trials_of(url)}
    assert len(before) == 8
    # the disk "fills up" a few trials into the resumed search
    size = path.stat().st_size
    r = dse("search", str(cfg), "--storage", url, "--trials", "20", "--quiet", "--no-report", cwd=tmp_path,
            limit=size + size // 2)  # room for a few more trials
    assert r.returncode == 1, r.stderr
    line = _last_line(r.stderr)
    assert line.startswith("dse: error: storage ") and "cannot write" in line, line
    assert f"resume with: dse search {cfg} --storage {url} --trials 20" in line
    mid = trials_of(url)
    assert 8 < len(mid) < 20, "the limit must hit mid-search"
    for t in mid:
        if t.number in before:
            assert (t.state, t.values, t.params) == before[t.number]
    if kind == "journal":
        assert path.read_bytes().endswith(b"\n"), "no torn record left behind"
        assert len(optuna_reads(path)) == len(mid)
    # space freed: the same command resumes and finishes the budget
    r = dse("search", str(cfg), "--storage", url, "--trials", "20", "--quiet", "--no-report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = trials_of(url)
    assert counted_trials(after) == 20
    for t in after:
        if t.number in before:
            assert (t.state, t.values, t.params) == before[t.number]
    assert not [t for t in after if t.state == TrialState.RUNNING]
    r = run_inprocess(["studies", "--storage", url], tmp_path)
    assert r.returncode == 0 and "faulty" in r.stdout, r.stderr
    r = run_inprocess(["export", "--storage", url, "--study", "faulty", "--all", "-o", "all.json", "--format",
                       "json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "all.json").read_text())) == len(after)


def _library_search(cfg: Path, url: str) -> None:
    """The first part of a study, run in this process (faster than the CLI)."""
    import tomllib

    doc = tomllib.loads(cfg.read_text())
    config = parse_config(doc, source=str(cfg))
    resolved = resolve(config)
    handle = open_storage(url)
    open_study(handle, config, doc, resolved)
    run_worker(handle, resolved, config.trials, None)


def _optuna_writer(path: Path, n_trials: int, limit: int | None) -> subprocess.CompletedProcess:
    """Optuna's own JournalFileBackend writing trials (optionally under a size limit): the
    writer dse used before, which leaves a torn record on a full disk."""
    code = textwrap.dedent(f"""
        import optuna
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = JournalStorage(JournalFileBackend({str(path)!r}))
        study = optuna.create_study(study_name="plain", storage=storage, load_if_exists=True)
        def f(t):
            t.set_user_attr("blob", "x" * 300)
            return sum(t.suggest_float(f"x{{i}}", 0, 1) for i in range(10))
        study.optimize(f, n_trials={n_trials})
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_limit(limit))


def test_torn_record_is_repaired_with_a_backup_and_never_appended_after(tmp_path):
    path = tmp_path / "s.journal"
    assert _optuna_writer(path, 5, None).returncode == 0
    size = path.stat().st_size
    r = _optuna_writer(path, 50, size + 2000)  # fails part-way through a record
    assert r.returncode != 0 and "File too large" in r.stderr
    torn = path.read_bytes()
    assert not torn.endswith(b"\n"), "Optuna's writer left a torn record"
    complete = torn[:torn.rfind(b"\n") + 1]
    # reading never needs a repair: studies, export
    r = dse("studies", "--storage", str(path), cwd=tmp_path)
    assert r.returncode == 0 and "plain" in r.stdout, r.stderr
    assert path.read_bytes() == torn, "a read-only command must not modify the storage"
    # the next write repairs first: truncate to the last complete record, back up the torn tail
    handle = open_storage(str(path))
    with pytest.warns(Warning, match="repaired a torn last record"):
        study = optuna.load_study(study_name="plain", storage=handle.storage)
        study.optimize(lambda t: t.suggest_float("x0", 0, 1), n_trials=3)
    data = path.read_bytes()
    assert data.startswith(complete) and data.endswith(b"\n")
    backups = list(tmp_path.glob("s.journal.torn-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == torn[len(complete):]
    assert all(json.loads(line) for line in data.splitlines())  # every record parses: nothing appended after
    assert len([t for t in optuna_reads(path, "plain") if t.state == TrialState.COMPLETE]) >= 3


def test_journal_damaged_by_the_old_writer_is_salvaged(tmp_path):
    """Before issue 15 a write after a torn record was appended to it: '<torn>{record}'. Every
    record after it was then unreadable (JSON decode error); dse now keeps them."""
    path = tmp_path / "s.journal"
    assert _optuna_writer(path, 5, None).returncode == 0
    size = path.stat().st_size
    assert _optuna_writer(path, 50, size + 2000).returncode != 0
    assert _optuna_writer(path, 2, None).returncode != 0  # Optuna itself cannot read its file any more
    with open(path, "ab") as f:  # what the old dse writer did next: append after the torn bytes
        f.write(b'{"op_code":2,"worker_id":"w","study_id":0,"user_attr":{"k":"v"}}\n')
    r = dse("studies", "--storage", str(path), cwd=tmp_path)
    assert r.returncode == 0 and "plain" in r.stdout, r.stderr
    assert "dse: warning:" in r.stderr and "torn" in r.stderr
    study = optuna.load_study(study_name="plain", storage=open_storage(str(path), create_dirs=False).storage)
    assert study.user_attrs["k"] == "v"
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) >= 5


def _make_read_only(*paths: Path) -> list[Path]:
    """Really read-only: mode 0444 for an ordinary user; for root (who ignores modes) the
    immutable attribute (chattr +i), which refuses writes even to root."""
    import shutil as _sh

    if os.geteuid() != 0:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return []
    if not _sh.which("chattr"):
        pytest.skip("running as root without chattr: no way to make a file read-only")
    done = []
    for p in paths:
        if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
            for q in done:
                subprocess.run(["chattr", "-i", str(q)])
            pytest.skip("chattr +i is not permitted here (no CAP_LINUX_IMMUTABLE or an unsupported file system)")
        done.append(p)
    return done


def test_read_only_storage_refused_for_search_readable_for_report(tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(HW_TOML.format(trials=3))
    ro = tmp_path / "ro"
    ro.mkdir()
    url = str(ro / "s.journal")
    _library_search(cfg, url)
    before = Path(url).read_bytes()
    immutable = _make_read_only(Path(url), ro)
    try:
        r = run_inprocess(["search", str(cfg), "--storage", url, "--trials", "6", "--quiet", "--no-report"], tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"dse: error: storage: {url!r} is not writable (")
        assert line.endswith("); use another --storage, or read it with 'dse studies'/'dse report'")
        r = run_inprocess(["studies", "--storage", url], tmp_path)
        assert r.returncode == 0 and "faulty" in r.stdout, r.stderr
        r = run_inprocess(["report", "--storage", url, "--study", "faulty", "-o", str(tmp_path / "r.html")], tmp_path)
        assert r.returncode == 0, r.stderr
        # a new storage in a directory nobody may write
        r = run_inprocess(["search", str(cfg), "--storage", str(ro / "new.journal"), "--quiet", "--no-report"],
                          tmp_path)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert f"directory {str(ro)!r} is not writable" in r.stderr
        assert Path(url).read_bytes() == before and not (ro / "new.journal").exists()
    finally:
        for p in immutable:
            subprocess.run(["chattr", "-i", str(p)])


def test_storage_that_vanishes_between_runs(tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(HW_TOML.format(trials=3))
    url = str(tmp_path / "disk" / "s.journal")
    _library_search(cfg, url)
    import shutil

    shutil.rmtree(tmp_path / "disk")  # an unmounted disk, a deleted directory
    for args in (("studies", "--storage", url), ("report", "--storage", url, "--study", "faulty"),
                 ("export", "--storage", url, "--study", "faulty", "-o", "x.csv"),
                 ("worker", "--storage", url, "--study", "faulty")):
        r = run_inprocess(list(args), tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"dse: error: storage: no such file {url!r} (directory {str(tmp_path / 'disk')!r} does not exist "
            "either); check the path, or run 'dse search' to create a study there"]
    assert not (tmp_path / "disk").exists() and not (tmp_path / "x.csv").exists()


# --- signals ------------------------------------------------------------------------------

SLOW_TOML = """
[study]
name = "stopme"
objectives = ["accuracy", "avg_weight_bits"]
trials = 4
baselines = []
[workload]
name = "tiny_workload:workload"
options = {samples = 12000}
[space]
kinds = ["fixed"]
w_bits = [2, 3, 4, 5, 6, 8]
a_bits = [8]
first_last = "search"
[hardware]
model = "systolic"
device = "XCVU9P"
search = []
[finetune]
epochs = 3
"""


def _wait_running(url: str, name: str, p: subprocess.Popen, complete: int) -> int:
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.2)
        assert p.poll() is None, p.communicate()
        try:
            trials = trials_of(url, name)
        except (KeyError, Exception):
            continue
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING and "point" in t.user_attrs]
        if len(done) >= complete and running:
            return running[0].number
    raise AssertionError("never saw a running trial")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_fails_the_running_trial_and_prints_the_resume_command(tmp_path, fixture_env, sig):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW_TOML)
    url = str(tmp_path / "runs" / "s.journal")
    args = ["search", str(cfg), "--storage", url, "--quiet", "--no-report"]
    for _ in range(3):  # a signal landing in the instant between two trials stops no trial: try again
        p = subprocess.Popen([sys.executable, "-m", "dse", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=fixture_env, cwd=tmp_path)
        _wait_running(url, "stopme", p, complete=1)
        t0 = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        stop_s = time.monotonic() - t0
        assert p.returncode == 130, err
        line = _last_line(err)
        # the trial the signal stopped, read afterwards (no timing window)
        failed = [t.number for t in trials_of(url, "stopme") if t.state == TrialState.FAIL]
        if failed:
            break
        assert line.startswith("dse: interrupted: completed trials are saved in"), line
    (number,) = failed
    assert line == (f"dse: interrupted: trial #{number} marked failed and queued again; completed trials are "
                    f"saved in {url}; resume with: dse {' '.join(args)}"), line
    print(f"stopped {stop_s:.2f} s after {sig.name}")
    trials = trials_of(url, "stopme")
    by_number = {t.number: t for t in trials}
    stopped = by_number[number]
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["reason"].startswith("interrupted")
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retry) == 1 and retry[0].state == TrialState.WAITING and retry[0].params == stopped.params
    done_before = {t.number: t.values for t in trials if t.state == TrialState.COMPLETE}
    # the printed command resumes: the stopped point is evaluated, the budget is exact
    r = subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True, env=fixture_env,
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    trials = trials_of(url, "stopme")
    by_number = {t.number: t for t in trials}
    assert by_number[retry[0].number].state == TrialState.COMPLETE
    assert by_number[retry[0].number].user_attrs.get("reason", "") == ""
    assert counted_trials(trials) == 4 and len(trials) == 5
    for n, v in done_before.items():
        assert by_number[n].values == v


def test_second_signal_exits_at_once(tmp_path):
    """The first Ctrl-C starts a clean stop; a second one while that is under way exits
    immediately (a stuck clean-up never traps the user)."""
    code = textwrap.dedent("""
        import sys, time
        from dse.commands.search import stop_on_signals
        with stop_on_signals():
            try:
                print("ready", flush=True)
                time.sleep(60)
            except KeyboardInterrupt:
                print("cleaning up", flush=True)
                time.sleep(60)  # a slow clean-up
        print("not reached", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGINT)
    assert p.stdout.readline().strip() == "cleaning up"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130 and "not reached" not in out
    assert err.strip() == "dse: interrupted again; exiting now"


# --- concurrency --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_searches_started_at_once(tmp_path, kind):
    cfg = tmp_path / "hw.toml"
    # a small space (12 points): identical proposals from the two searches are certain
    cfg.write_text(HW_TOML.format(trials=24).replace('kinds = ["fixed", "sp2"]', 'kinds = ["fixed"]')
                   .replace("ranges = {rows = [4, 64], cols = [4, 64]}", "ranges = {rows = [8, 10], cols = [8, 9]}")
                   .replace('search = ["rows", "cols", "dataflow"]', 'search = ["rows", "cols"]'))
    url = str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    cmd = [sys.executable, "-m", "dse", "search", str(cfg), "--storage", url, "--quiet", "--no-report"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    trials = trials_of(url)
    assert len(trials) == 24 == counted_trials(trials)
    assert sorted(t.number for t in trials) == list(range(24))
    assert [t.user_attrs.get("baseline") for t in trials].count("fixed W8A8") == 1
    evaluated = [t.user_attrs["point_key"] for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated)), "an identical point was evaluated twice"
    # (whether both ran trials depends on start-up times, so it is not asserted: under load one
    # search can finish the budget before the other has imported torch)


# --- plug-ins raising mid-study -----------------------------------------------------------

def test_hardware_model_raising_fails_only_its_trials(tmp_path):
    from hwmodels.systolic import SystolicModel

    class Flaky(SystolicModel):
        """A plug-in with a bug on some points."""

        def evaluate(self, workload, point):
            if point.knob("rows") % 3 == 0:
                raise ZeroDivisionError(f"flaky plug-in: cannot price rows={point.knob('rows')}")
            return super().evaluate(workload, point)

    doc = {"study": {"name": "flaky", "objectives": ["latency_s", "lut"], "fidelity": "none", "trials": 20,
                     "baselines": []},
           "workload": {"name": "resnet18"}, "space": {"kinds": ["fixed"], "w_bits": [4, 8], "a_bits": [8]},
           "hardware": {"model": "systolic", "device": "XCVU9P", "search": ["rows"], "ranges": {"rows": [4, 64]}}}
    cfg = parse_config(doc)
    resolved = replace(resolve(cfg), model=Flaky())
    handle = open_storage(str(tmp_path / "s.journal"))
    study, _ = open_study(handle, cfg, doc, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    trials = study.get_trials()
    assert len(trials) == 20
    failed = [t for t in trials if t.state == TrialState.FAIL]
    ok = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert failed and ok
    for t in failed:
        assert t.params["hw.rows"] % 3 == 0
        assert t.user_attrs["reason"] == f"ZeroDivisionError: flaky plug-in: cannot price rows={t.params['hw.rows']}"
        assert t.user_attrs["status"] == "failed"
    assert all(t.params["hw.rows"] % 3 != 0 for t in ok)


def test_workload_raising_mid_study_fails_one_trial(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    import faulty_workload

    doc = {"study": {"name": "wl", "objectives": ["accuracy", "avg_weight_bits"], "trials": 4, "baselines": []},
           "workload": {"name": "faulty_workload:workload"},
           "space": {"kinds": ["fixed"], "w_bits": [2, 4, 6, 8], "a_bits": [8], "first_last": "search"},
           "hardware": {"model": "systolic", "device": "XCVU9P", "search": []},
           "finetune": {"epochs": 1}}
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(str(tmp_path / "s.journal"))
    study, _ = open_study(handle, cfg, doc, resolved)
    from dse.train import pretrain

    pretrain(resolved.bundle, seed=cfg.seed)
    faulty_workload.arm(fail_at=faulty_workload.BATCHES_PER_EPOCH + 2)  # inside the 2nd trial's fine-tune
    run_worker(handle, resolved, cfg.trials, None)
    trials = study.get_trials()
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    bad = next(t for t in trials if t.state == TrialState.FAIL)
    assert bad.number == 1
    assert bad.user_attrs["reason"] == "OSError: faulty_workload: simulated read error on batch 18"
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_disk_full_while_exporting_or_reporting(tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(HW_TOML.format(trials=4))
    url = str(tmp_path / "s.journal")
    _library_search(cfg, url)
    stored = Path(url).read_bytes()
    r = dse("export", "--storage", url, "--study", "faulty", "--all", "-o", "out.csv", cwd=tmp_path, limit=300)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == ["dse: error: cannot write or read out.csv: File too large"]
    assert not list(tmp_path.glob("out.csv*")), "no partial export left behind"
    r = dse("report", "--storage", url, "--study", "faulty", "-o", "r.html", cwd=tmp_path, limit=4000)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == ["dse: error: cannot write or read r.html: File too large"]
    assert not list(tmp_path.glob("r.html*")), "no partial report left behind"
    assert Path(url).read_bytes() == stored, "reading commands never write the storage"


_WRITE_REPORT = textwrap.dedent("""
    import sys
    import optuna
    from dse.report import write_report
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="bare", directions=["minimize", "maximize"])
    try:
        write_report(study, sys.argv[1])
    except OSError as e:
        print(e.errno)
        sys.exit(3)
""")


def test_write_report_removes_its_temp_file_when_the_disk_fills(tmp_path):
    """The library function itself (not only `dse report`) leaves no `.tmp` behind and keeps the
    previous page whole when a write fails for real (a file-size limit: EFBIG after a short write)."""
    import errno

    old = tmp_path / "r.html"
    old.write_text("<html>previous report</html>")

    def write(limit):
        return subprocess.run([sys.executable, "-c", _WRITE_REPORT, str(old)], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300, preexec_fn=_limit(limit))

    r = write(4000)
    assert r.returncode == 3 and r.stdout.strip() == str(errno.EFBIG), r.stdout + r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"], "no r.html.tmp left behind"
    assert old.read_text() == "<html>previous report</html>", "the previous page is kept whole"
    r = write(None)  # the same script without the limit replaces the page
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"] and "<html" in old.read_text()
    assert old.stat().st_size > 4000
