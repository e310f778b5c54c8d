"""The typed trial record (dse/record.py) and the metric table (dse/metrics.py): every key a
trial stores is a record field, records round-trip exactly, studies written before the
record existed still load, and the metric vocabulary is declared once."""

from __future__ import annotations

import dataclasses
import json
import math

import optuna
import pytest
from optuna.trial import TrialState

from dse import metrics as metrics_mod
from dse.config import HW_ONLY_OBJECTIVES, MAXIMIZE, OBJECTIVES, parse_config
from dse.evaluate import Evaluator, complexity_metrics, hw_metrics, training_metrics
from dse.export import pareto_records, plan_of_trial
from dse.metrics import METRICS, Metric, format_value, names, report_table
from dse.record import FIELDS, RECORD_VERSION, VERSION_KEY, StudyRecord, TrialRecord
from dse.study import (config_from_study, named_constraints, open_study, pareto_table, pareto_trials, resolve,
                       run_worker, status_counts)
from dse.study.storage import open_storage
from dse.training import FinetuneResult
from hwmodels import DesignPoint, QuantScheme

HW_DOC = {
    "study": {"name": "rec", "objectives": ["latency_s", "lut"], "fidelity": "none", "trials": 12, "seed": 3},
    "workload": {"name": "digits"},
    "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8], "shared": True},
    "hardware": {"model": "systolic", "device": "XC7Z020", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                 "search": ["rows", "cols"]},
}


@pytest.fixture(scope="module")
def hw_study(tmp_path_factory):
    """A small hardware-only search written by the current code into a journal file
    (an XC7Z020 is small: some points do not fit, so there are infeasible trials too)."""
    url = str(tmp_path_factory.mktemp("rec") / "s.journal")
    cfg = parse_config(HW_DOC)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, HW_DOC, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    return optuna.load_study(study_name="rec", storage=open_storage(url).storage)


# --- the record -------------------------------------------------------------------------------

def test_every_key_a_search_stores_is_a_record_field_and_round_trips(hw_study):
    trials = hw_study.get_trials()
    states = {t.state for t in trials}
    assert TrialState.COMPLETE in states and TrialState.PRUNED in states, "the study should have both outcomes"
    for t in trials:
        rec = TrialRecord.of(t)
        assert rec.extra == {}, f"trial {t.number} stores keys the record does not declare: {set(rec.extra)}"
        assert rec.to_attrs() == t.user_attrs
        assert rec.version == RECORD_VERSION and t.user_attrs[VERSION_KEY] == RECORD_VERSION
        assert rec.point == t.user_attrs["point"] and DesignPoint.from_dict(rec.point)
        assert rec.status in ("complete", "infeasible")
        assert (rec.status == "complete") == (t.state == TrialState.COMPLETE)
        assert rec.worker["pid"] > 0 and len(rec.point_key) == 16
        if t.state == TrialState.COMPLETE:
            m = rec.metrics
            assert t.values == [m["latency_s"], m["lut"]] == [rec.metric("latency_s"), rec.metric("lut")]
            assert rec.fidelity_reached == "hardware" and rec.finetune is None and rec.reason is None
        else:
            assert rec.reason.startswith("does not fit XC7Z020")
    assert TrialRecord.of(trials[0]).baseline == "fixed W8A8" and TrialRecord.of(trials[0]).is_baseline
    assert not TrialRecord.of(trials[-1]).is_baseline


def test_round_trip_of_a_full_record():
    rec = TrialRecord(status="abandoned", reason="hopeless", metrics={"accuracy": 0.5, "lut": 12},
                      hw={"device": "XC7Z020"}, hw_layers=[{"name": "fc", "cycles": 3.0}], finetune={"epochs_run": 1},
                      timing={"total_s": 1.5}, screen={"estimate": 0.4}, fidelity_reached="finetune",
                      worker={"host": "h", "pid": 7}, point={"layers": {}, "hardware": {}}, point_key="ab" * 8,
                      baseline="fixed W8A8", duplicate_of=3, allocator={"bits": 4}, extra={"someone_elses": [1, 2]})
    attrs = rec.to_attrs()
    assert set(attrs) == set(FIELDS) | {VERSION_KEY, "someone_elses"}
    assert json.loads(json.dumps(attrs)) == attrs  # plain JSON, as Optuna stores it
    assert TrialRecord.from_attrs(attrs) == rec
    assert TrialRecord.from_attrs(attrs).is_duplicate


def test_a_version_0_record_loads_with_defaults_and_keeps_unknown_keys():
    # as a study written before the record existed: no record_version, no fidelity_reached/screen,
    # and a key a later (or foreign) writer added
    v0 = {"status": "complete", "metrics": {"latency_s": 1e-4, "lut": 100}, "point": {"layers": {}, "hardware": {}},
          "timing": {"total_s": 0.1}, "note_from_a_plugin": {"x": 1}}
    rec = TrialRecord.from_attrs(v0)
    assert rec.version == 0
    assert rec.status == "complete" and rec.metric("lut") == 100.0 and rec.metric("accuracy") is None
    assert rec.hw is None and rec.hw_layers is None and rec.fidelity_reached is None and rec.duplicate_of is None
    assert rec.extra == {"note_from_a_plugin": {"x": 1}}
    assert rec.to_attrs() == v0  # written back unchanged: no version added, the unknown key kept
    assert TrialRecord.from_attrs({}) == TrialRecord(version=0)
    # a version that is not an int is kept as it was, not trusted
    odd = TrialRecord.from_attrs({VERSION_KEY: "2"})
    assert odd.version == 0 and odd.extra == {VERSION_KEY: "2"} and odd.to_attrs() == {VERSION_KEY: "2"}


def test_writes_are_checked_and_made_json():
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(TypeError, match="no field 'pointt'"):
        TrialRecord.write(trial, pointt={})
    assert trial.user_attrs == {}  # nothing written when one name is wrong
    import numpy as np

    TrialRecord.write(trial, worker={"pid": 1})
    assert VERSION_KEY not in trial.user_attrs  # the version goes with the outcome
    TrialRecord.write(trial, status="complete", metrics={"lut": np.int64(5), "latency_s": np.float32(0.5)})
    assert trial.user_attrs["metrics"] == {"lut": 5, "latency_s": 0.5}
    assert type(trial.user_attrs["metrics"]["lut"]) is int
    assert trial.user_attrs[VERSION_KEY] == RECORD_VERSION
    with pytest.raises(TypeError):
        TrialRecord.get(trial, "nonsense")
    assert TrialRecord.get(trial, "status") == "complete" and TrialRecord.get(trial, "reason") is None


def _as_old_study(study: optuna.Study) -> optuna.Study:
    """A copy of ``study`` as a version-0 writer left it: no record_version, no
    fidelity_reached, no worker/point_key (keys added over time)."""
    old = optuna.create_study(study_name=study.study_name, directions=study.directions)
    for k, v in study.user_attrs.items():
        if k != VERSION_KEY:
            old.set_user_attr(k, v)
    dropped = {VERSION_KEY, "fidelity_reached", "worker", "point_key"}
    for t in study.get_trials():
        attrs = {k: v for k, v in t.user_attrs.items() if k not in dropped}
        old.add_trial(optuna.trial.create_trial(
            state=t.state, values=t.values, params=t.params, distributions=t.distributions, user_attrs=attrs,
            constraints=named_constraints(t) or None))
    return old


def test_an_old_study_reads_the_same_through_every_reader(hw_study):
    from dse.report.data import report_data

    old = _as_old_study(hw_study)
    assert StudyRecord.of(old).version == 0 and config_from_study(old) == config_from_study(hw_study)
    for t in old.get_trials():
        rec = TrialRecord.of(t)
        assert rec.version == 0 and rec.extra == {} and rec.worker is None and rec.fidelity_reached is None
    assert [t.number for t in pareto_trials(old)] == [t.number for t in pareto_trials(hw_study)]
    assert pareto_table(old) == pareto_table(hw_study)
    assert status_counts(old) == status_counts(hw_study)
    assert pareto_records(old) == pareto_records(hw_study)
    n = pareto_trials(old)[0].number
    assert plan_of_trial(old, n) == plan_of_trial(hw_study, n)
    new_data, old_data = report_data(hw_study), report_data(old)
    for key in ("trials", "pareto", "details", "plans", "objectives", "metrics", "csv", "infeasible", "config"):
        assert old_data[key] == new_data[key], key
    assert {k: v for k, v in old_data["meta"].items() if k != "generated_unix"} == {
        k: v for k, v in new_data["meta"].items() if k != "generated_unix"}


def test_every_key_a_study_stores_is_a_study_record_field(hw_study):
    sr = StudyRecord.of(hw_study)
    assert sr.extra == {}, f"the study stores keys the record does not declare: {set(sr.extra)}"
    assert sr.to_attrs() == hw_study.user_attrs and sr.version == RECORD_VERSION
    assert sr.objectives == ["latency_s", "lut"] and sr.workload == "digits" and sr.device == "XC7Z020"
    assert [l["name"] for l in sr.layers] == [l.name for l in resolve(parse_config(HW_DOC)).workload.layers]
    assert StudyRecord.from_attrs(sr.to_attrs()) == sr
    with pytest.raises(TypeError, match="StudyRecord has no field 'objective'"):
        StudyRecord.write(hw_study, objective=["x"])


# --- the metric table -------------------------------------------------------------------------

def test_config_vocabulary_comes_from_the_table():
    assert OBJECTIVES == ("accuracy", "latency_s", "energy_j", "lut", "dsp", "bram18", "ff", "avg_weight_bits",
                          "mac_bits", "term_pairs")  # the order config errors list them in
    assert OBJECTIVES == names(objective=True)
    assert {o for o in OBJECTIVES if o in MAXIMIZE} == {"accuracy"}
    assert HW_ONLY_OBJECTIVES == tuple(o for o in OBJECTIVES if METRICS[o].source != "training")
    for name, m in METRICS.items():
        assert m.name == name and m.label and m.description and m.short
        assert m.direction == ("maximize" if "accuracy" in name else "minimize")
    # every objective direction a config produces is the table's
    cfg = parse_config({**HW_DOC, "study": {**HW_DOC["study"], "objectives": ["energy_j", "avg_weight_bits"]}})
    assert cfg.directions == [METRICS["energy_j"].direction, METRICS["avg_weight_bits"].direction]


@pytest.mark.slow  # a real fine-tune (pre-training digits first): ~5 s
def test_the_evaluator_emits_exactly_the_table(tmp_path):
    """Every metric the evaluator returns is in the table and every table metric is returned
    (hardware + complexity from a real priced point, training from a real fine-tune)."""
    from dse.training import FinetuneBudget, finetune
    from dse.workloads import get_workload

    doc = {"study": {"name": "fit", "objectives": ["accuracy", "latency_s"], "fidelity": "finetune", "trials": 1},
           "workload": {"name": "digits"}, "hardware": {"model": "systolic", "device": "XC7Z045"},
           "finetune": {"steps": 2, "pretrain_epochs": 1}}
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    bundle = get_workload("digits")
    point = DesignPoint.make({l.name: QuantScheme(kind="fixed", w_bits=8, a_bits=8) for l in resolved.workload.layers})

    def fn(p, abort):
        return finetune(bundle, p, FinetuneBudget(steps=2), seed=0, abort=abort, cache_dir=str(tmp_path),
                        pretrain_epochs=1)

    ev = Evaluator(cfg, resolved.model, resolved.workload, fn).evaluate(point)
    assert ev.status == "complete", ev.reason
    assert list(ev.metrics) == [*names(source="hardware"), *names(source="complexity"), *names(source="training")]
    assert set(ev.metrics) == set(METRICS)
    assert 0.0 <= ev.metrics["accuracy"] <= 1.0 and ev.metrics["float_accuracy"] > 0.5
    assert ev.values == (ev.metrics["accuracy"], ev.metrics["latency_s"])
    report = resolved.model.evaluate(resolved.workload, point)
    assert hw_metrics(report)["lut"] == report.resources.lut and hw_metrics(report)["cycles"] == report.cycles
    assert complexity_metrics(resolved.workload, point)["avg_weight_bits"] == 8.0
    # the result type carries every training metric's field
    result_fields = {f.name for f in dataclasses.fields(FinetuneResult)}
    assert {METRICS[n].field for n in names(source="training")} <= result_fields


def test_a_metric_added_to_the_table_flows_everywhere(monkeypatch):
    """Adding a metric is one row in the table (plus computing the value on its source object)."""
    new = Metric("peak_macs", "peak MACs/cycle", "", "maximize", "hardware", "peak_macs_per_cycle",
                 "most MACs the array finishes per cycle", objective=False, cap=False, short="peak")
    monkeypatch.setitem(METRICS, "peak_macs", new)
    cfg = parse_config(HW_DOC)
    resolved = resolve(cfg)
    point = DesignPoint.make({l.name: QuantScheme(kind="fixed", w_bits=8, a_bits=8) for l in resolved.workload.layers})
    report = resolved.model.evaluate(resolved.workload, point)
    assert hw_metrics(report)["peak_macs"] == report.peak_macs_per_cycle > 0
    assert Evaluator(cfg, resolved.model, resolved.workload).evaluate(point).metrics["peak_macs"] > 0
    assert format_value("peak_macs", 256.0) == "256"
    assert report_table()["peak_macs"]["label"] == "peak MACs/cycle"


FORMATS = {  # metric -> (value, terminal text); every metric of the table must be listed
    "accuracy": (0.91234, "91.23%"),
    "latency_s": (1.2346e-4, "123.5 us"),
    "energy_j": (2.5e-6, "2.50 uJ"),
    "lut": (1234.4, "1234"),
    "dsp": (12.0, "12"),
    "bram18": (3.0, "3"),
    "ff": (5678.6, "5679"),
    "avg_weight_bits": (3.456, "3.46"),
    "mac_bits": (123456.0, "1.23e+05"),
    "term_pairs": (9300.0, "9.3e+03"),
    "cycles": (1e6, "1000000"),
    "uram": (0.0, "0"),
    "float_accuracy": (0.975, "97.50%"),
}


def test_each_metric_formats_as_the_terminal_shows_it():
    assert set(FORMATS) == set(METRICS), "a new metric needs its format checked here"
    for name, (v, text) in FORMATS.items():
        assert format_value(name, v) == text, name
        assert format_value(name, None) == "-" and format_value(name, math.nan) == "-"
    assert format_value("not_a_metric", 2.4) == "2"  # unknown names: a rounded number, as before


def test_the_report_gets_the_table_and_labels_axes_from_it(hw_study):
    from dse.report.data import report_data

    data = report_data(hw_study)
    assert data["metrics"] == report_table()
    assert data["metrics"]["latency_s"]["ladder"] == [[1.0, "s"], [1e3, "ms"], [1e6, "us"], [1e9, "ns"]]
    specs = {s["name"]: s for s in data["objectives"]}
    assert specs["lut"]["label"] == "LUTs" and specs["lut"]["direction"] == "minimize"
    assert specs["latency_s"]["label"] in ("latency (ms)", "latency (us)")
    assert set(data["trials"]["metrics"]) <= set(METRICS)


def test_metric_rows_are_checked():
    with pytest.raises(ValueError, match="direction"):
        Metric("x", "x", "", "up", "hardware", "x", "d")
    with pytest.raises(ValueError, match="source"):
        Metric("x", "x", "", "minimize", "magic", "x", "d")
    with pytest.raises(ValueError, match="ladder"):
        Metric("x", "x", "s", "minimize", "hardware", "x", "d", display="si")
    with pytest.raises(KeyError, match="unknown metric 'speed'"):
        metrics_mod.metric("speed")
