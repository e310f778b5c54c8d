"""HTML reports: the data read from real (hardware-only, seconds) studies, the page's
self-containment and escaping, empty and failed-only studies, and ``dse report``."""

import csv
import io
import json
import re
import subprocess
import sys

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from dse.config import parse_config
from dse.pareto import hypervolume, normalize, to_minimization
from dse.report import build_report_html, report_data, write_report
from dse.report.html import embed_json
from dse.report.reasons import classify, group_reasons, normalize_numbers
from dse.storage import open_storage
from dse.study import feasible, open_study, pareto_trials, resolve, run_worker, status_counts
from hwmodels import LayerSpec
from hwmodels.devices import get_device

EVIL = "<script>alert(1)</script>"
EVIL_LAYER = "<img src=x onerror=alert(3)>"


def evil_layers():
    """A user workload (layers only) whose layer names are markup."""
    return [LayerSpec(EVIL_LAYER, 196, 576, 64), LayerSpec("conv&</script><b>2</b>", 49, 576, 128),
            LayerSpec("fc", 1, 128, 10)]


def hw_doc(name="hw", objectives=("latency_s", "lut", "avg_weight_bits"), trials=30, workload="resnet18"):
    return {
        "study": {"name": name, "objectives": list(objectives), "fidelity": "none", "trials": trials},
        "workload": {"name": workload},
        "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8], "shared": False},
        "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                     "search": ["rows", "cols", "dataflow", "pe_arith"]},
        "constraints": {"caps": ["latency_s <= 0.2"]},
        "sampler": {"name": "random"},
    }


def make_study(url, doc, run=True):
    """A study made by the real machinery: config -> resolve -> storage -> worker loop."""
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    study.set_user_attr("target_trials", cfg.trials)
    if run:
        run_worker(handle, resolved, cfg.trials, None)
    return optuna.load_study(study_name=cfg.name, storage=handle.storage)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    url = str(root / "s.journal")
    return {
        "url": url,
        3: make_study(url, hw_doc("three", trials=40)),
        2: make_study(url, hw_doc("two", ("latency_s", "lut"), trials=25)),
        4: make_study(url, hw_doc("four", ("latency_s", "lut", "dsp", "avg_weight_bits"), trials=25)),
    }


def embedded(html_text, element_id):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html_text, re.S)
    assert m, element_id
    return json.loads(m.group(1))


# --- the data read from the storage -------------------------------------------------------------

@pytest.mark.parametrize("m", [2, 3, 4])
def test_data_matches_the_storage(studies, m):
    study = studies[m]
    d = report_data(study)
    trials = study.get_trials()
    front = pareto_trials(study)
    assert front, "these configs always have feasible points"
    assert sorted(d["pareto"]) == sorted(t.number for t in front)
    first = d["objectives"][0]
    assert d["pareto"] == sorted(d["pareto"], key=lambda n: (trials[n].values[0], n)), "best first (minimised)"
    assert first["name"] == "latency_s" and first["unit"] in ("s", "ms", "us")
    assert [o["name"] for o in d["objectives"]] == study.user_attrs["objectives"]
    counts = status_counts(study)
    assert {k: d["counts"][k] for k in counts} == counts
    assert d["counts"]["pareto"] == len(front) and d["counts"]["total"] == len(trials)

    T = d["trials"]
    finished = [t for t in trials if t.state != TrialState.WAITING and "duplicate_of" not in t.user_attrs]
    assert T["number"] == [t.number for t in finished]
    for k, n in enumerate(T["number"]):
        t = trials[n]
        cat = T["category"][k]
        if n in d["pareto"]:
            assert cat == "pareto"
        elif t.state == TrialState.COMPLETE:
            assert cat == ("dominated" if feasible(t) else "infeasible")
        else:
            assert cat in ("infeasible", "abandoned", "failed")
        if t.state == TrialState.COMPLETE:
            assert T["values"][k] == pytest.approx(t.values, rel=1e-6)
        if t.user_attrs.get("baseline"):
            assert T["baseline"][k] == t.user_attrs["baseline"]
    assert T["baseline"][0] == "fixed W8A8"

    # per-layer detail for every Pareto point, heatmap layers x points in the same order
    layers = [l["name"] for l in study.user_attrs["layers"]]
    for n in d["pareto"]:
        rows = d["details"][str(n)]
        assert [r[0] for r in rows] == [r["name"] for r in trials[n].user_attrs["hw_layers"]]
    H = d["heatmap"]
    assert H["layers"] == layers and H["columns"] == d["pareto"]
    bits = H["fields"]["w_bits"]
    assert len(bits) == len(layers) and all(len(r) == len(front) for r in bits)
    c = 0
    point = trials[H["columns"][c]].user_attrs["point"]["layers"]
    assert [row[c] for row in bits] == [point[name]["w_bits"] for name in layers]

    # resources against the capacity read from the device catalog
    cap = get_device("XC7Z045").capacity
    R = d["resources"]
    assert R["points"] == d["pareto"] and not R["unknown_devices"]
    assert set(R["capacity"]["dsp"]) == {cap.dsp} and set(R["capacity"]["lut"]) == {cap.lut}
    assert R["used"]["dsp"] == [trials[n].user_attrs["metrics"]["dsp"] for n in d["pareto"]]


def test_hypervolume_history_is_the_normalised_front(studies):
    study = studies[3]
    d = report_data(study)
    hv = d["hypervolume"]
    ok = [t for t in study.get_trials() if t.state == TrialState.COMPLETE and feasible(t)
          and "duplicate_of" not in t.user_attrs]
    assert hv["trial"] == [t.number for t in ok]
    v = to_minimization([t.values for t in ok], ["minimize"] * 3)
    nv = normalize(v, v.min(0), v.max(0))
    assert hv["value"][-1] == pytest.approx(hypervolume(nv, np.full(3, 1.1)), rel=1e-6)
    assert all(b >= a - 1e-9 for a, b in zip(hv["value"], hv["value"][1:])), "never decreases"
    assert 0 < hv["value"][-1] <= hv["max"] == pytest.approx(1.1 ** 3)
    assert hv["method"] == "exact" and "1.1" in hv["note"]


def test_hypervolume_history_estimate_beyond_three_objectives(studies):
    study = studies[4]
    hv = report_data(study)["hypervolume"]
    assert hv["method"] == "monte-carlo" and "Monte-Carlo" in hv["note"]
    ok = [t for t in study.get_trials() if t.state == TrialState.COMPLETE and feasible(t)
          and "duplicate_of" not in t.user_attrs]
    v = to_minimization([t.values for t in ok], ["minimize"] * 4)
    nv = normalize(v, v.min(0), v.max(0))
    exact = [hypervolume(nv[: k + 1], np.full(4, 1.1)) for k in range(len(nv))]
    assert hv["value"][-1] == pytest.approx(exact[-1], rel=0.03)
    assert all(b >= a for a, b in zip(hv["value"], hv["value"][1:]))
    big = [k for k, e in enumerate(exact) if e > 0.2 * exact[-1]]
    assert all(hv["value"][k] == pytest.approx(exact[k], rel=0.08) for k in big)
    assert report_data(study)["hypervolume"]["value"] == hv["value"], "seeded: the same every time"


def test_parameter_importance_per_objective(studies):
    study = studies[3]
    d = report_data(study)
    imp = d["importance"]
    assert not imp["message"]
    assert set(imp["per_objective"]) == {"latency_s", "lut", "avg_weight_bits"}
    params = set(study.get_trials()[0].params)
    for rows in imp["per_objective"].values():
        assert rows and {p for p, _ in rows} <= params
        assert all(x >= 0 for _, x in rows)
        assert [x for _, x in rows] == sorted((x for _, x in rows), reverse=True)
    assert sum(x for _, x in imp["per_objective"]["lut"]) <= 1.0 + 1e-6
    assert report_data(study)["importance"] == imp, "deterministic"


def test_importance_finds_the_parameter_that_decides_an_objective():
    """Trials whose first objective is decided by one categorical parameter and whose second
    follows a log-scaled numeric one; the rest is noise. Each must rank first in its objective,
    and agree with Optuna's PED-ANOVA on the winner."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from dse.report.importance import param_importances

    rng = np.random.default_rng(0)
    dists = {"arith": CategoricalDistribution(["dsp", "lut"]), "clock": FloatDistribution(1e6, 1e9, log=True),
             "noise_i": IntDistribution(1, 64), "noise_c": CategoricalDistribution([2, 4, 8])}
    trials = []
    for k in range(300):
        p = {"arith": str(rng.choice(["dsp", "lut"])), "clock": float(np.exp(rng.uniform(np.log(1e6), np.log(1e9)))),
             "noise_i": int(rng.integers(1, 65)), "noise_c": int(rng.choice([2, 4, 8]))}
        v = [(5.0 if p["arith"] == "lut" else 1.0) + rng.normal(0, 0.5), -np.log(p["clock"]) + rng.normal(0, 0.5)]
        trials.append(optuna.trial.create_trial(params=p, distributions=dists, values=v))
    imp = param_importances(trials, ["lut", "latency_s"], ["minimize", "minimize"])
    assert imp["lut"][0][0] == "arith" and imp["lut"][0][1] > 0.5
    assert imp["latency_s"][0][0] == "clock" and imp["latency_s"][0][1] > 0.5
    assert all(abs(sum(x for _, x in rows) - 1.0) < 1e-9 for rows in imp.values())
    holder = optuna.create_study(directions=["minimize", "minimize"])
    holder.add_trials(trials)
    for i, name in enumerate(["lut", "latency_s"]):
        ref = optuna.importance.get_param_importances(holder, target=lambda t, i=i: t.values[i],
                                                      evaluator=optuna.importance.PedAnovaImportanceEvaluator())
        assert next(iter(ref)) == imp[name][0][0]


def test_importance_needs_enough_trials(tmp_path):
    study = make_study(str(tmp_path / "s.journal"), hw_doc("few", trials=4))
    imp = report_data(study)["importance"]
    assert imp["per_objective"] == {} and "at least" in imp["message"]


def test_csv_is_the_pareto_export(studies, tmp_path):
    study = studies[3]
    d = report_data(study)
    from dse.export import pareto_records, write_records

    write_records(pareto_records(study), "csv", tmp_path / "front.csv")
    assert (tmp_path / "front.csv").read_bytes() == d["csv"].encode("utf-8")
    rows = list(csv.DictReader(io.StringIO(d["csv"])))
    assert [int(r["trial"]) for r in rows] == d["pareto"]
    t = study.get_trials()[d["pareto"][0]]
    assert float(rows[0]["objective.latency_s"]) == pytest.approx(t.values[0])
    assert json.loads(rows[0]["plan"]) == t.user_attrs["point"]


def test_infeasible_reasons_are_grouped(studies):
    study = studies[3]
    d = report_data(study)
    bad = [t for t in study.get_trials() if "duplicate_of" not in t.user_attrs
           and (t.state != TrialState.COMPLETE or not feasible(t))]
    assert bad, "the random sampler always hits unsupported or misfit points here"
    inf = d["infeasible"]
    assert inf["total"] == len(bad)
    labels = [g["label"] for g in inf["groups"]]
    assert len(labels) == len(set(labels))
    for t in bad:
        reason = t.user_attrs["reason"]
        if reason.startswith("unsupported:"):
            assert normalize_numbers(reason) in labels
        if "does not fit XC7Z045" in reason:
            assert "does not fit XC7Z045" in labels
    counts = {g["label"]: g["count"] for g in inf["groups"]}
    assert sum(counts.values()) >= len(bad)


def test_reason_classification():
    fit = "does not fit XC7Z020: ff: 708795 > 106400 (+602395, 666.2%); dsp: 1024 > 220 (+804, 465.5%)"
    assert classify(fit, "infeasible") == [("does not fit XC7Z020", "ff"), ("does not fit XC7Z020", "dsp")]
    both = "does not fit XC7Z020: dsp: 256 > 220 (+36, 116.4%); latency_s = 0.3476 violates latency_s <= 0.05"
    assert classify(both, "infeasible") == [("does not fit XC7Z020", "dsp"),
                                            ("latency_s cap (latency_s <= 0.05)", None)]
    clock = ("does not fit XC7Z020: dsp: 256 > 220 (+36, 116.4%); clock_hz: 545 MHz > 464 MHz (Fmax bound of XC7Z020, "
             "-1 speed grade)")
    assert classify(clock, "infeasible") == [("does not fit XC7Z020", "dsp"), ("does not fit XC7Z020", "clock_hz")]
    uns = "unsupported: a 32 x 8-bit product does not fit one DSP48E1 multiplier"
    assert classify(uns, "infeasible") == [("unsupported: a N x N-bit product does not fit one DSP48E1 multiplier", None)]
    assert classify("ValueError: bad 3\nTraceback", "failed") == [("failed: ValueError: bad N", None)]
    assert classify("hopeless: validation accuracy 0.1 < 0.5 after epoch 1", "abandoned")[0][0] == \
        "abandoned: hopeless: validation accuracy N < N after epoch N"
    groups = group_reasons([("infeasible", fit), ("infeasible", both), ("infeasible", uns), ("infeasible", uns)])
    by = {g["label"]: g for g in groups}
    assert by["does not fit XC7Z020"]["count"] == 2
    assert {p["label"]: p["count"] for p in by["does not fit XC7Z020"]["parts"]} == {"dsp": 2, "ff": 1}
    assert groups[0]["count"] == 2 and by["latency_s cap (latency_s <= 0.05)"]["count"] == 1


# --- the page ------------------------------------------------------------------------------------

def test_page_is_self_contained_and_carries_the_data(studies, tmp_path):
    study = studies[3]
    path = write_report(study, tmp_path / "r" / "three.html")
    text = path.read_text(encoding="utf-8")
    size_mb = len(text.encode()) / 1e6
    assert 1.5 < size_mb < 3.0, size_mb  # plotly.js gzip+base64 (~1.9 MB) + data
    # nothing is fetched: no external script, stylesheet, image or font; a CSP forbids it anyway
    assert not re.search(r"<(script|img|iframe)[^>]+\bsrc=", text, re.I)
    assert not re.search(r"<link\b", text, re.I) and "@import" not in text
    assert "default-src 'none'" in text
    assert text.count("<script") == 3  # the data, the compressed plotly.js, our script
    d = embedded(text, "dse-data")
    ref = report_data(study)
    d["meta"].pop("generated_unix"), ref["meta"].pop("generated_unix")
    assert d == json.loads(json.dumps(ref))
    # the compressed plotly.js is the installed one
    import base64
    import gzip

    from plotly.offline import get_plotlyjs

    gz = re.search(r'id="dse-plotly-gz">([A-Za-z0-9+/=]+)</script>', text).group(1)
    assert gzip.decompress(base64.b64decode(gz)).decode() == get_plotlyjs()


def test_plain_js_variant_inlines_plotly_as_is(studies):
    text = build_report_html(studies[2], compress_js=False)
    assert 'id="dse-plotly-gz"' not in text and len(text) > 4.5e6
    assert text.count("</script>") == 3


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_embedded_json_cannot_close_its_element(s):
    out = embed_json({"name": s, "nested": [s, {s: s}]})
    assert "<" not in out and ">" not in out and "&" not in out
    assert json.loads(out) == {"name": s, "nested": [s, {s: s}]}


def test_user_strings_are_escaped(tmp_path):
    doc = hw_doc(EVIL, ("latency_s", "lut"), trials=8, workload=f"{__name__}:evil_layers")
    study = make_study(str(tmp_path / "s.journal"), doc)
    study.set_user_attr("raw_config", {**study.user_attrs["raw_config"], "x": "</script><script>alert(2)</script>"})
    assert [l["name"] for l in study.user_attrs["layers"]][0] == EVIL_LAYER
    text = build_report_html(study)
    body = text.split('<script type="application/octet-stream"')[0]
    for bad in (EVIL, EVIL_LAYER, "<b>2</b>", "alert(2)</script>"):
        assert bad not in body
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; - dse report</title>" in text
    block = re.search(r'id="dse-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in block and ">" not in block
    d = embedded(text, "dse-data")
    assert d["meta"]["study"] == EVIL and d["heatmap"]["layers"][0] == EVIL_LAYER
    assert d["config"]["raw"]["x"] == "</script><script>alert(2)</script>"
    # our script writes stored strings with textContent only
    from importlib import resources

    js = resources.files("dse.report").joinpath("report.js").read_text()
    assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write", js)


# --- empty and failed-only studies ----------------------------------------------------------------

def test_empty_study_still_renders(tmp_path):
    study = make_study(str(tmp_path / "s.journal"), hw_doc("empty"), run=False)  # baselines waiting
    d = report_data(study)
    assert d["pareto"] == [] and d["trials"]["number"] == [] and d["counts"]["waiting"] == 2
    assert d["hypervolume"]["trial"] == [] and d["infeasible"]["total"] == 0
    text = build_report_html(study)
    assert embedded(text, "dse-data")["counts"]["complete"] == 0
    bare = optuna.create_study(study_name="bare", directions=["minimize", "maximize"])
    d = report_data(bare)
    assert [o["name"] for o in d["objectives"]] == ["objective 0", "objective 1"] and d["counts"]["total"] == 0
    assert "<html" in build_report_html(bare)


def test_failed_only_study(tmp_path, monkeypatch):
    from dse import evaluate

    def boom(self, point):
        raise RuntimeError("model bug <b>3</b> at 0x1f")

    monkeypatch.setattr(evaluate.Evaluator, "evaluate", boom)
    study = make_study(str(tmp_path / "s.journal"), hw_doc("broken", trials=5))
    assert {t.state for t in study.get_trials()} == {TrialState.FAIL}
    d = report_data(study)
    assert d["pareto"] == [] and d["counts"]["failed"] == 5 and d["counts"]["complete"] == 0
    assert d["infeasible"]["total"] == 5
    g = d["infeasible"]["groups"][0]
    assert g["kind"] == "failed" and g["count"] == 5 and g["label"].startswith("failed: RuntimeError: model bug")
    assert "model bug <b>3</b>" not in build_report_html(study).split('id="dse-plotly-gz"')[0]


# --- the command -----------------------------------------------------------------------------------

def dse(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_report(studies, tmp_path):
    url = studies["url"]
    r = dse("report", "--storage", url, "--study", "two", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "reports" / "two.html"
    assert out.exists() and f"report: {out.relative_to(tmp_path)}" in r.stdout
    r = dse("report", "--storage", url, "--study", "four", "-o", str(tmp_path / "x" / "f.html"))
    assert r.returncode == 0 and (tmp_path / "x" / "f.html").stat().st_size > 1e6


def test_cli_report_errors_are_one_line(studies, tmp_path):
    r = dse("report", "--storage", studies["url"], "--study", "nope")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "no study named 'nope'" in r.stderr and "'three'" in r.stderr
    r = dse("report", "--storage", str(tmp_path / "missing.journal"), "--study", "x")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"dse: error: storage: no such file {str(tmp_path / 'missing.journal')!r}")
    assert not (tmp_path / "missing.journal").exists()
    r = dse("report", "--storage", studies["url"])  # several studies: the name is needed
    assert r.returncode == 2 and "--study" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_report_on_empty_and_failed_studies_exits_0(tmp_path, monkeypatch):
    url = str(tmp_path / "s.journal")
    make_study(url, hw_doc("empty"), run=False)
    r = dse("report", "--storage", url, "-o", str(tmp_path / "e.html"))
    assert r.returncode == 0, r.stderr
    assert "no completed trials" in r.stdout and (tmp_path / "e.html").exists()


def test_search_writes_the_report(tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text('[study]\nname = "quick"\nobjectives = ["latency_s", "lut"]\nfidelity = "none"\ntrials = 6\n'
                   '[workload]\nname = "resnet18"\n[hardware]\nmodel = "systolic"\ndevice = "XC7Z045"\n')
    r = dse("search", str(cfg), "--quiet", "--force", cwd=tmp_path)  # --force: past the pre-flight feasibility check
    assert r.returncode == 0, r.stderr
    page = tmp_path / "reports" / "quick.html"
    assert "report: reports/quick.html" in r.stdout and page.exists()
    d = embedded(page.read_text(), "dse-data")
    assert d["meta"]["study"] == "quick" and d["counts"]["total"] == 6


# --- decision aids in the data ---------------------------------------------------------------------

MIN2 = ["minimize", "minimize"]


def _plane_distance(nv, rows):
    """Brute force: signed distance of each scaled point to the line/plane through the extremes
    ``rows`` (2-D: the line's normal; 3-D: a cross product), positive on the ideal point's side."""
    a = nv[rows[0]]
    if nv.shape[1] == 2:
        d = nv[rows[1]] - a
        n = np.array([-d[1], d[0]])
    else:
        n = np.cross(nv[rows[1]] - a, nv[rows[2]] - a)
    n = n / np.linalg.norm(n)
    if n @ (a - np.zeros_like(a)) < 0:
        n = -n
    return (a - nv) @ n


@pytest.mark.parametrize("front, knees", [
    ([[0.0, 1.0], [0.2, 0.2], [0.5, 0.1], [1.0, 0.0]], [1]),  # convex: the corner
    ([[0.0, 1.0], [0.3, 0.8], [0.7, 0.5], [1.0, 0.0]], [1]),  # concave: the least bulging interior point
    ([[0.0, 1.0], [0.8, 0.8], [1.0, 0.0]], [1]),  # 3 points, concave: the middle, never an extreme
    ([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]], [1]),  # 3 points on a line: the middle
    ([[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [1.0, 0.0]], [1, 2]),  # straight front: interior points tie
    ([[0.0, 1.0], [0.1, 0.3], [0.3, 0.1], [1.0, 0.0]], [1, 2]),  # symmetric convex: exact tie
])
def test_knee_two_objectives(front, knees):
    from dse.report.knee import knee_distances, knee_points

    v = np.array(front)
    k, nv = knee_points(v, MIN2)
    assert k == knees
    _, dist, interior = knee_distances(v, MIN2)
    assert dist == pytest.approx(_plane_distance(nv, [0, len(front) - 1]), abs=1e-12)
    assert not interior[0] and not interior[-1]
    # directions and units do not matter: maximise the first (negated), scale the second
    k2, _ = knee_points(np.c_[-v[:, 0], 1000 * v[:, 1] + 5], ["maximize", "minimize"])
    assert k2 == knees


def test_knee_three_objectives_and_fronts_without_an_interior():
    from dse.report.knee import knee_distances, knee_points

    mn = ["minimize"] * 3
    # extremes not on a symmetric plane: the brute-force plane through them decides
    front = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 0.6, 0.0],
                      [0.3, 0.4, 0.45], [0.45, 0.35, 0.3], [0.2, 0.7, 0.6]])
    k, nv = knee_points(front, mn)
    ref = _plane_distance(nv, [0, 1, 2])
    _, dist, interior = knee_distances(front, mn)
    assert dist == pytest.approx(ref, abs=1e-12)
    assert k == [3 + int(np.argmax(ref[3:]))] and interior.tolist() == [False] * 3 + [True] * 3
    # concave in 3-D: the interior point closest to the plane, not an extreme
    k, _ = knee_points(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0.9, 0.8, 0.9], [0.8, 0.8, 0.8]], float), mn)
    assert k == [4]
    # every point the best in some objective: no knee (and the page says why)
    assert knee_points(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float), mn)[0] == []


def test_knee_in_the_report_data(studies):
    from dse.report.knee import knee_distances

    study = studies[3]
    d = report_data(study)
    front = pareto_trials(study)
    v = np.array([t.values for t in front])
    nv, dist, interior = knee_distances(v, ["minimize"] * 3)
    assert interior.any()
    best = front[int(np.flatnonzero(interior)[np.argmax(dist[interior])])].number
    assert best in d["knee"]["points"] and not d["knee"]["message"]
    pos = [t.number for t in front].index(best)
    assert min(nv[pos]) > 0  # not the best in any objective
    assert d["knee"]["scaled"][str(best)] == pytest.approx(nv[pos].tolist(), rel=1e-6)
    assert len(d["knee"]["neighbours"][str(best)]) == 2 and best not in d["knee"]["neighbours"][str(best)]
    two = report_data(studies[2])
    if len(two["pareto"]) < 3:
        assert two["knee"]["points"] == [] and "at least 3" in two["knee"]["message"]


def test_plans_capacity_and_storage_in_the_data(studies):
    from dse.export import plan_of_trial
    from dse.report.data import public_url

    study = studies[3]
    d = report_data(study, storage_url=studies["url"])
    assert d["meta"]["storage"] == studies["url"]
    for n in d["pareto"]:
        assert d["plans"][str(n)] == plan_of_trial(study, n)
    assert d["capacity"]["XC7Z045"]["dsp"] == get_device("XC7Z045").capacity.dsp
    assert public_url("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db"
    assert public_url("runs/dse.journal") == "runs/dse.journal" and public_url(None) is None
    # per-layer energy and PE use are recorded by new studies
    F = d["layer_fields"]
    rows = d["details"][str(d["pareto"][0])]
    assert all(r[F.index("energy_j")] > 0 and 0 < r[F.index("utilization")] <= 1 for r in rows)


def test_old_studies_without_per_layer_costs_still_report(studies, tmp_path):
    """A study written before per-layer energy was stored (and one without any per-layer rows):
    the data carries None, the page says "not recorded" (tests/dse/test_report_browser.py)."""
    src = studies[2]
    old = optuna.create_study(study_name="old", directions=src.directions,
                              storage=open_storage(str(tmp_path / "old.journal")).storage)
    for k, v in src.user_attrs.items():
        old.set_user_attr(k, v)
    for t in src.get_trials(deepcopy=False):
        if t.state != TrialState.COMPLETE:
            continue
        ua = dict(t.user_attrs)
        if "hw_layers" in ua:
            ua["hw_layers"] = [{k: v for k, v in r.items() if k not in ("energy_j", "utilization")} for r in ua["hw_layers"]]
        if t.number % 2:
            ua.pop("hw_layers", None)
        old.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=t.values,
                                                user_attrs=ua, constraints=t.constraints or None))
    d = report_data(old)
    F = d["layer_fields"]
    assert d["pareto"]
    for n in d["pareto"]:
        rows = d["details"][str(n)]
        assert rows and all(r[F.index("energy_j")] is None for r in rows)
    assert "<html" in build_report_html(old)


def test_monte_carlo_history_uses_only_record_setters_and_loses_nothing():
    """Only points no earlier point weakly dominates can be the first to dominate a sample:
    the history over them equals the brute-force one over every point."""
    from dse.report.data import _record_setters, hypervolume_history_mc

    rng = np.random.default_rng(3)
    v = np.vstack([rng.random((400, 3)), np.repeat(0.05 - 0.01 * np.arange(5), 3).reshape(5, 3)])  # late records
    v[50] = v[10]  # an exact repeat is never first
    ref = np.full(3, 1.1)
    cand = _record_setters(v)
    assert 10 in cand and 50 not in cand and all(k in cand for k in range(400, 405))
    pts = np.random.default_rng(0).random((2000, 3)) * ref
    le = np.all(v[:, None, :] <= pts[None, :, :], axis=2)
    first = np.where(le.any(axis=0), le.argmax(axis=0), len(v))
    brute = np.cumsum(np.bincount(first, minlength=len(v) + 1)[:len(v)]) / 2000 * 1.1 ** 3
    assert np.array_equal(hypervolume_history_mc(v, ref, samples=2000), brute)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_report_data_identical_with_the_all_pairs_pareto_definition(studies, m, monkeypatch):
    """The one-pass Pareto mask (dse/study/pareto.py, made for 20,000-trial reports) leaves the
    report's data exactly as the all-pairs definition it replaced gives it."""
    import dse.study.summary as summary

    def all_pairs(values):
        v = np.asarray(values, dtype=float)
        le = np.all(v[None, :, :] <= v[:, None, :], axis=2)
        lt = np.any(v[None, :, :] < v[:, None, :], axis=2)
        return ~np.any(le & lt, axis=1)

    fast = report_data(studies[m])
    monkeypatch.setattr(summary, "pareto_mask", all_pairs)
    ref = report_data(studies[m])
    fast["meta"].pop("generated_unix"), ref["meta"].pop("generated_unix")
    assert json.dumps(fast, sort_keys=True) == json.dumps(ref, sort_keys=True)
    assert fast["pareto"]
