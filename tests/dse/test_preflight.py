"""Pre-flight feasibility estimate, `dse search --dry-run`, `--force`, never-used settings.

Real parts throughout: the built-in digits CNN's layer shapes priced by the systolic model,
the real CLI entry point, real journal/SQLite storages for the runs that do start."""

import re
import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse.cli import main
from dse.storage import open_storage
from dse.config import parse_config
from dse.study import named_constraints, resolve
from dse import preflight
from conftest import hw_only_toml  # tests/conftest.py: the hardware-only study TOML

#: hardware-only digits study whose array (rows x cols up to 256 x 256) mostly overflows a
#: Zynq-7010's 80 DSP slices
TOO_BIG = hw_only_toml("too-big", "digits", trials=5, device="XC7Z010",
                       hardware='search = ["rows", "cols"]\nranges = {rows = [16, 256], cols = [16, 256]}\n')

FITS = TOO_BIG.replace('"too-big"', '"fits"').replace("[16, 256]", "[2, 8]")


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _estimate(text: str, **kw) -> preflight.Preflight:
    raw = tomllib.loads(text)
    r = resolve(parse_config(raw))
    preflight.check_space(r, raw)
    return preflight.estimate(r, **kw)


def test_estimate_names_the_binding_constraint_and_a_change_that_helps():
    pf = _estimate(TOO_BIG)
    assert pf.samples == preflight.SAMPLES
    assert pf.share < preflight.LOW_FEASIBLE
    assert pf.binding is not None and pf.binding.startswith("fits_device")
    assert pf.rejected[pf.binding] >= 0.5 * pf.samples
    assert pf.hints and pf.hints[0].share > pf.share
    # the hint is a real config change: applying the suggested range raises the estimate
    m = re.match(r"hardware\.ranges\.(\w+) = (\[.*\])", pf.hints[0].change)
    if m:
        fixed = TOO_BIG.replace("ranges = {", f"ranges = {{{m.group(1)} = {m.group(2)}, ", 1)
        fixed = re.sub(rf"{m.group(1)} = \[16, 256\],? ?", "", fixed)
        assert _estimate(fixed).share > pf.share
    assert _estimate(FITS).share == 1.0


def test_estimate_is_seeded_and_matches_a_real_random_search(tmp_path):
    from dataclasses import replace

    from dse.study import feasible, open_study, run_worker

    text = TOO_BIG.replace("XC7Z010", "XC7Z045")
    a, b = _estimate(text), _estimate(text)
    assert (a.feasible, a.rejected) == (b.feasible, b.rejected)
    assert 0.05 < a.share < 0.95
    # the same space searched for real with Optuna's random sampler: a similar share fits
    raw = tomllib.loads(text)
    cfg = replace(parse_config(raw), sampler="random", trials=80, baselines=())
    resolved = resolve(cfg)
    handle = open_storage(str(tmp_path / "r.journal"))
    study, _ = open_study(handle, cfg, raw, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    trials = study.get_trials()
    real = sum(feasible(t) for t in trials) / len(trials)
    assert abs(real - a.share) < 0.15, (real, a.share)


def test_dry_run_prints_space_estimate_and_cost_and_creates_nothing(tmp_path, monkeypatch, capsys):
    cfg = _write(tmp_path, FITS)
    monkeypatch.chdir(tmp_path)
    before = _listing(tmp_path)
    rc = main(["search", str(cfg), "--dry-run", "--storage", f"sqlite:///{tmp_path}/s.db"])
    out = capsys.readouterr().out
    assert rc == 0
    assert _listing(tmp_path) == before  # no storage, no runs/, no reports/
    assert re.search(r"100\.0% feasible \(256 of 256 random designs\)", out)
    assert "expected cost: about" in out and "for 5 trials" in out
    # w_bits of the 2 searched layers (2 each) x rows, cols (7 integers each)
    assert "space: 196 parameter assignments; 4 parameters, 4 on every trial" in out
    assert re.search(r"hw\.rows\s+int \[2, 8\]", out)
    assert "hw.device = XC7Z010" in out and "conv1.scheme = fixed W8A8" in out


def test_almost_nothing_fits_stops_before_anything_is_created(tmp_path, monkeypatch, capsys):
    cfg = _write(tmp_path, TOO_BIG)
    monkeypatch.chdir(tmp_path)
    before = _listing(tmp_path)
    rc = main(["search", str(cfg), "--no-report"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "binding constraint fits_device" in lines[0] and "--force" in lines[0] and "try " in lines[0]
    assert _listing(tmp_path) == before
    # --force searches anyway
    rc = main(["search", str(cfg), "--no-report", "--force", "--quiet", "--storage", str(tmp_path / "s.journal")])
    assert rc == 0
    assert (tmp_path / "s.journal").exists()
    # Optuna's own tools see our names: objectives as metric names; constraint values by
    # name (Optuna) and as the list optuna-dashboard reads (system attr "constraints")
    study = optuna.load_study(study_name="too-big", storage=open_storage(str(tmp_path / "s.journal")).storage)
    assert study.metric_names == ["latency_s", "lut"]
    trials = study.get_trials()
    assert len(trials) == 5
    for t in trials:
        named = named_constraints(t)
        assert set(named) == {"fits_device"}
        assert t.system_attrs["constraints"] == [named["fits_device"]]
        assert (t.state == TrialState.COMPLETE) == (named["fits_device"] <= 0)
    assert any(t.state == TrialState.PRUNED for t in trials)


BAD = [
    (TOO_BIG.replace('kinds = ["fixed"]', 'kinds = ["fixed"]\nsp2_fractions = [0.5]'),
     "space.sp2_fractions: never used, space.kinds has no 'msq'"),
    (TOO_BIG.replace('kinds = ["fixed"]', 'kinds = ["fixed"]\ngroup_sizes = [4, 8]'),
     "space.group_sizes: never used, space.kinds has no 'term'"),
    (TOO_BIG.replace("ranges = {", 'ranges = {clock_hz = [1e8, 2e8], '),
     "hardware.ranges.clock_hz: never used, it is not in hardware.search"),
    (TOO_BIG.replace('search = ["rows", "cols"]', 'search = ["rows", "cols", "device"]'),
     "hardware.search: 'device' is also fixed by hardware.device"),
    (TOO_BIG.replace('model = "systolic"', 'model = "nope"'), "hardware.model: unknown model 'nope'"),
]


@pytest.mark.parametrize("text,message", BAD, ids=["sp2-without-msq", "group-without-term", "range-not-searched",
                                                    "fixed-and-searched", "unknown-model"])
def test_bad_config_fails_the_same_with_and_without_dry_run(tmp_path, monkeypatch, capsys, text, message):
    cfg = _write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    before = _listing(tmp_path)
    results = []
    for extra in ([], ["--dry-run"]):
        rc = main(["search", str(cfg), "--no-report", *extra])
        cap = capsys.readouterr()
        results.append((rc, cap.err))
        assert rc == 2 and len(cap.err.strip().splitlines()) == 1 and message in cap.err, cap.err
        assert not cap.out
    assert results[0] == results[1]
    assert _listing(tmp_path) == before


def test_cap_binding_suggests_a_looser_cap():
    text = FITS.replace("[hardware]", '[constraints]\ncaps = ["latency_s <= 1e-7"]\n\n[hardware]')
    pf = _estimate(text)
    assert pf.binding == "cap:latency_s" and pf.share < preflight.LOW_FEASIBLE
    assert any(h.change.startswith('constraints.caps: "latency_s <=') for h in pf.hints)


def test_dry_run_of_the_default_demo_estimates_fine_tunes_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["search", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no storage, runs/, reports/, nor a pre-training cache
    m = re.search(r"expected cost: about .* for 30 trials \(.*about (\d+) fine-tunes x ([\d.]+) s, plus the FP32 "
                  r"pre-training once \(not cached yet\)\)", out)
    assert m, out
    assert 15 <= int(m.group(1)) <= 30 and float(m.group(2)) > 0
    assert re.search(r"conv1\.kind\s+\{fixed, term\}", out)  # first/last searched in the demo
    assert re.search(r"conv1\.terms_per_value\s+\{.*\} when conv1\.kind = term", out)
