"""`dse validate` on a tiny hardware-only study: the Pareto points are simulated and
synthesized, the results land in the storage, and the report marks them."""

from __future__ import annotations

import json
import shutil

import optuna
import pytest

from dse.cli import main
from dse.config import parse_config
from dse.storage import open_storage
from dse.study import open_study, resolve, run_worker


@pytest.fixture(autouse=True)
def _tools():
    for tool in ('iverilog', 'yosys'):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: apt-get install {tool} (.ci/run does this)")


WORKLOAD = '''\
from hwmodels import LayerSpec


def layers():
    return [LayerSpec.conv("c1", 6, 6, 3, 3, 2, 3, stride=2), LayerSpec.gemm("fc", 3, 6, 4),
            LayerSpec.gemm("huge", 4096, 4096, 64)]
'''

DOC = {
    "study": {"name": "rtl", "objectives": ["latency_s", "lut"], "fidelity": "none", "trials": 6, "seed": 1},
    "workload": {"name": "tinyrtl_wl:layers"},
    "space": {"kinds": ["fixed"], "w_bits": [4], "a_bits": [4], "shared": True},
    "hardware": {"model": "systolic", "device": "XC7Z020",
                 "fixed": {"pe_arith": "lut", "rows": 2, "ifmap_buffer_bytes": 1024, "weight_buffer_bytes": 1024,
                           "ofmap_buffer_bytes": 1024},
                 "ranges": {"cols": [1, 2]}, "search": ["cols", "dataflow"]},
}


@pytest.fixture
def study_url(tmp_path, monkeypatch):
    (tmp_path / "tinyrtl_wl.py").write_text(WORKLOAD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    url = str(tmp_path / "s.journal")
    cfg = parse_config(DOC)
    resolved = resolve(cfg)
    handle = open_storage(url)
    open_study(handle, cfg, DOC, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    return url


@pytest.mark.slow
def test_validate_stores_results_and_the_report_marks_them(study_url, tmp_path, capsys):
    assert main(["validate", "--storage", study_url, "--study", "rtl", "--top", "1", "--simulator", "iverilog",
                 "--max-cycles", "5000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (num, res), = out["trials"].items()
    assert res["status"] == "validated"
    v = res["verify"]
    assert [l["name"] for l in v["layers"]] == ["c1", "fc"]
    assert all(l["model_cycles"] == l["simulated_cycles"] and l["outputs_match"] for l in v["layers"])
    assert [s["name"] for s in v["skipped"]] == ["huge"] and "simulation bound of 5,000" in v["skipped"][0]["reason"]
    s = res["synth"]
    assert set(s["model"]) == set(s["synth"]) == {"lut", "ff", "dsp", "bram18"}
    assert s["synth"]["lut"] > 0 and s["synth"]["dsp"] == 0 and s["error"]["dsp"] == 0.0
    for r in ("lut", "ff"):
        assert s["error"][r] == pytest.approx((s["model"][r] - s["synth"][r]) / s["synth"][r])

    study = optuna.load_study(study_name="rtl", storage=open_storage(study_url).storage)
    assert set(study.user_attrs["rtl_validation"]) == {num}

    from dse.report.data import report_data

    data = report_data(study)
    assert data["validation"]["points"] == [int(num)]
    row, = data["validation"]["rows"]
    assert row["on_front"] and row["cycles_match"] and row["outputs_match"] and row["skipped"] == 1
    assert row["lut"]["synth"] == s["synth"]["lut"]

    # the page: a table row for the point and a square marker on it in the scatter
    from dse.report import write_report

    page_path = tmp_path / "r.html"
    write_report(study, page_path)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30000)
            cells = page.eval_on_selector_all("#validation tbody tr td", "tds => tds.map(t => t.textContent)")
            marked = page.evaluate("""() => { var out = []; document.querySelectorAll('.js-plotly-plot').forEach(
                function (d) { (d.data || []).forEach(function (t) { if (t.uid === 'validated') out = out.concat(t.customdata); }); });
                return out; }""")
        finally:
            browser.close()
    assert errors == []
    assert cells[:5] == [f"#{num}", res["array"], "2 (1 over the bound)", "match", "match"]
    assert f"{s['synth']['lut']:,}" in cells[5]
    assert int(num) in marked


def test_validate_bad_input(study_url, capsys, monkeypatch):
    assert main(["validate", "--storage", study_url, "--study", "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    assert main(["validate", "--storage", study_url, "--study", "rtl", "--top", "0"]) == 2
    assert "--top: must be a positive integer" in capsys.readouterr().err
    monkeypatch.setenv("DSE_YOSYS", "/nonexistent/yosys")
    assert main(["validate", "--storage", study_url, "--study", "rtl", "--simulator", "iverilog"]) == 2
    assert capsys.readouterr().err == "dse: error: yosys not found: apt-get install yosys\n"
    study = optuna.load_study(study_name="rtl", storage=open_storage(study_url).storage)
    assert "rtl_validation" not in study.user_attrs
