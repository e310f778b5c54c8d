"""The report in a real browser: Debian's headless Chromium driven by Playwright, pages
opened from file:// with a fresh profile. No console errors, no network requests, the
Pareto plot holds the Pareto set; clicking the exact pixel of every Pareto point selects
that trial everywhere (and the URL links to it), zoom keeps the selection, the knee is
marked, designs compare side by side and against a baseline, filters and parallel-coordinate
brushes reach every view, the plan and commands leave the page, malicious names stay text,
and studies with nothing to show say so."""

import base64
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dse.export import plan_of_trial
from dse.report import write_report
from dse.report.knee import knee_points
from dse.study import feasible, pareto_trials
from test_report import EVIL, EVIL_LAYER, hw_doc, make_study

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed at /usr/bin/chromium: apt-get install chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dse-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Reports of real studies: 3 and 4 objectives, a malicious one, an empty one, a failed one."""
    root = tmp_path_factory.mktemp("pages")
    url = str(root / "s.journal")
    out = {}
    hopeless = hw_doc("hopeless", ("latency_s", "lut"), trials=6)
    hopeless["constraints"] = {"caps": ["latency_s <= 1e-12"]}
    for key, doc in {
        "three": hw_doc("three", trials=40),
        "four": hw_doc("four", ("latency_s", "lut", "dsp", "avg_weight_bits"), trials=25),
        "evil": hw_doc(EVIL, ("latency_s", "lut"), trials=20, workload="test_report:evil_layers"),
        "hopeless": hopeless,
        "dense": hw_doc("dense", ("latency_s", "dsp"), trials=150),
    }.items():
        study = make_study(url, doc)
        out[key] = (write_report(study, root / f"{key}.html", storage_url=url), study)
    # one objective: `dse search` refuses it (exit 2), but any Optuna study can be reported
    import optuna
    from optuna.distributions import FloatDistribution

    single = optuna.create_study(study_name="single <b>'1'</b>", storage=optuna.storages.InMemoryStorage())
    for k in range(5):
        single.add_trial(optuna.trial.create_trial(params={"x": k / 5}, distributions={"x": FloatDistribution(0, 1)},
                                                   values=[float(k)]))
    out["single"] = (write_report(single, root / "single.html"), single)
    # a study written before per-layer energy was stored: the same trials without it
    from optuna.trial import TrialState

    src = out["three"][1]
    old = optuna.create_study(study_name="old", directions=src.directions, storage=optuna.storages.InMemoryStorage())
    for k, v in src.user_attrs.items():
        old.set_user_attr(k, v)
    for t in src.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs:
            ua = dict(t.user_attrs)
            ua["hw_layers"] = [{k: v for k, v in r.items() if k not in ("energy_j", "utilization")}
                               for r in ua.get("hw_layers", [])]
            old.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=t.values,
                                                    user_attrs=ua, constraints=t.constraints or None))
    out["old"] = (write_report(old, root / "old.html"), old)
    empty = make_study(url, hw_doc("empty"), run=False)
    out["empty"] = (write_report(empty, root / "empty.html"), empty)
    from dse import evaluate

    def boom(self, point):
        raise RuntimeError("model bug <img src=x onerror=alert(4)>")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate.Evaluator, "evaluate", boom)
        failed = make_study(url, hw_doc("failed", trials=4))
    out["failed"] = (write_report(failed, root / "failed.html"), failed)
    return out


class Opened:
    """A page with what it logged, requested and tried to pop up."""

    def __init__(self, ctx, path: Path, hash_: str = ""):
        self.page = ctx.new_page()
        self.errors, self.requests, self.dialogs = [], [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url + hash_)
        self.page.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
        self.ready = self.page.get_attribute("body", "data-ready")

    def clean(self):
        assert self.ready == "ok"
        assert self.errors == []
        assert [r.split("#")[0] for r in self.requests] == [self.url], "the page must fetch nothing but itself"
        assert self.dialogs == []


@pytest.fixture
def opened(browser):
    made = []

    def open_(path, hash_=""):
        o = Opened(browser, path, hash_)
        made.append(o)
        return o

    yield open_
    for o in made:
        o.page.close()


PARETO_COUNTS = """() => Array.from(document.querySelectorAll('.front-plot')).map(gd => {
  const t = gd.data.find(t => t.uid === 'pareto'); return [gd.dataset.x, gd.dataset.y, t.x.length, t.customdata];
})"""

# pixel position of Pareto point n in the first pair plot, and its distance to the nearest other point
POINT_XY = """(n) => {
  const gd = document.querySelector('.front-plot');
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  const px = (t, k) => [r.left + fl.xaxis._offset + fl.xaxis.d2p(t.x[k]), r.top + fl.yaxis._offset + fl.yaxis.d2p(t.y[k])];
  const t = gd.data.find(t => t.uid === 'pareto');
  const [x, y] = px(t, t.customdata.indexOf(n));
  let nearest = 1e9;
  for (const tr of gd.data) {
    if (!tr.customdata || tr.uid === 'baseline') continue;
    tr.customdata.forEach((m, k) => { if (m !== n) { const [u, v] = px(tr, k); nearest = Math.min(nearest, Math.hypot(u - x, v - y)); } });
  }
  return {x, y, nearest};
}"""


def test_page_loads_offline_and_plots_the_front(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    o.clean()
    front = sorted(t.number for t in pareto_trials(study))
    plots = o.page.evaluate(PARETO_COUNTS)
    assert [(x, y) for x, y, _, _ in plots] == [("latency_s", "lut"), ("latency_s", "avg_weight_bits"),
                                               ("lut", "avg_weight_bits")]
    for _, _, count, numbers in plots:
        assert count == len(front) and sorted(numbers) == front
    # the header says what the study is
    assert o.page.text_content("h1") == "three"
    facts = o.page.text_content("#facts")
    assert "resnet18" in facts and "systolic" in facts and "XC7Z045" in facts and "latency_s (min)" in facts
    assert "latency_s <= 0.2" in facts and "random, seed 0" in facts
    assert o.page.text_content('[data-count="Pareto"]').strip() == f"{len(front)} Pareto"
    # resources, heatmap, hypervolume and importance are drawn
    assert o.page.evaluate("document.getElementById('heatmap').data[0].z.length") == 21
    assert o.page.evaluate("document.getElementById('resources-plot').data.length") >= 8
    assert o.page.evaluate("document.getElementById('hypervolume-plot').data[0].x.length") > 0
    assert o.page.locator(".importance-plot").count() == 3


def test_hover_and_click_on_a_plotted_point_show_it(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    first = o.page.evaluate("dseReport.data.knee.points[0]")
    assert f"#{first} " in o.page.text_content("#details-title")  # the knee is preselected
    candidates = [n for n in o.page.evaluate("dseReport.data.pareto") if n != first]
    assert candidates
    o.page.locator(".front-plot").first.scroll_into_view_if_needed()
    spots = {n: o.page.evaluate(POINT_XY, n) for n in candidates}
    n = max(spots, key=lambda k: spots[k]["nearest"])
    xy = spots[n]
    o.page.mouse.move(xy["x"], xy["y"])
    o.page.wait_for_function("() => document.getElementById('tip') && !document.getElementById('tip').hidden")
    hover = o.page.text_content("#tip")
    assert f"trial #{n} " in hover and "latency_s:" in hover
    o.page.mouse.click(xy["x"], xy["y"])
    o.page.wait_for_function(f"() => document.getElementById('details-title').textContent.includes('#{n} ')")
    layers = study.user_attrs["layers"]
    assert o.page.locator("#layer-table tbody tr").count() == len(layers)
    first_row = [c.strip() for c in o.page.locator("#layer-table tbody tr").first.locator("td").all_text_contents()]
    hw0 = study.get_trials()[n].user_attrs["hw_layers"][0]
    assert first_row[0] == hw0["name"] == layers[0]["name"] and first_row[1] == hw0["kind"]
    assert o.page.get_attribute(f'#pareto-table tr[data-trial="{n}"]', "class") == "selected"
    # the selection ring moved to that point in every scatter
    sel = o.page.evaluate("Array.from(document.querySelectorAll('.front-plot, .explore-plot')).map(gd => gd.data.find(t => t.uid === 'selected').x.length)")
    assert sel == [1, 1, 1, 1]
    o.clean()


def test_table_rows_select_sort_and_download(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    rows = o.page.locator("#pareto-table tbody tr")
    front = pareto_trials(study)
    assert rows.count() == len(front)
    last = rows.nth(rows.count() - 1)
    n = int(last.get_attribute("data-trial"))
    last.click()
    assert f"#{n} " in o.page.text_content("#details-title")
    # sort by trial number, then reversed
    o.page.click("#pareto-table th:first-child")
    order = [int(x) for x in o.page.eval_on_selector_all("#pareto-table tbody tr", "rs => rs.map(r => r.dataset.trial)")]
    assert order == sorted(t.number for t in front)
    o.page.click("#pareto-table th:first-child")
    order = [int(x) for x in o.page.eval_on_selector_all("#pareto-table tbody tr", "rs => rs.map(r => r.dataset.trial)")]
    assert order == sorted((t.number for t in front), reverse=True)
    href = o.page.get_attribute("#csv-link", "href")
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    text = base64.b64decode(href.split(",", 1)[1]).decode("utf-8")
    assert text == o.page.evaluate("dseReport.data.csv")
    assert text.splitlines()[0].startswith("trial,state,status,baseline,feasible,objective.latency_s")
    assert o.page.get_attribute("#csv-link", "download") == "three-pareto.csv"
    # a column of the per-layer heatmap selects its point too
    heat = o.page.locator("#heatmap")
    heat.scroll_into_view_if_needed()
    c = len(front) - 1
    xy = o.page.evaluate("""(c) => { const gd = document.getElementById('heatmap'), fl = gd._fullLayout;
      const r = gd.getBoundingClientRect();
      return {x: r.left + fl.xaxis._offset + fl.xaxis.l2p(c), y: r.top + fl.yaxis._offset + fl.yaxis.l2p(0)}; }""", c)
    o.page.mouse.click(xy["x"], xy["y"])
    n = o.page.evaluate("dseReport.data.heatmap.columns")[c]
    o.page.wait_for_function(f"() => document.getElementById('details-title').textContent.includes('#{n} ')")
    o.clean()
    # the link really downloads the CSV (built from the page's data: nothing fetched)
    with o.page.expect_download() as dl:
        o.page.click("#csv-link")
    assert dl.value.suggested_filename == "three-pareto.csv"
    assert Path(dl.value.path()).read_bytes() == text.encode("utf-8")  # CR LF line ends kept


def test_four_objectives_give_six_pair_plots(pages, opened):
    path, study = pages["four"]
    o = opened(path)
    o.clean()
    plots = o.page.evaluate(PARETO_COUNTS)
    assert len(plots) == 6
    assert {count for _, _, count, _ in plots} == {len(pareto_trials(study))}


def test_malicious_names_render_as_text(pages, opened):
    path, study = pages["evil"]
    o = opened(path)
    o.clean()  # no dialog fired, nothing fetched
    assert o.page.title() == f"{EVIL} - dse report"
    assert o.page.text_content("h1") == EVIL
    assert o.page.locator("header script, main script, main img").count() == 0
    ticks = o.page.eval_on_selector_all("#heatmap .ytick text", "ts => ts.map(t => t.textContent)")
    assert EVIL_LAYER in ticks and "conv&</script><b>2</b>" in ticks
    layer_cells = o.page.locator("#layer-table tbody tr td:first-child").all_text_contents()
    assert EVIL_LAYER in layer_cells
    importance = o.page.eval_on_selector_all(".importance-plot .ytick text", "ts => ts.map(t => t.textContent)")
    assert "conv&</script><b>2</b>.w_bits" in importance  # first and last layers are pinned to W8A8


def test_empty_and_failed_only_studies_say_so(pages, opened):
    o = opened(pages["empty"][0])
    o.clean()
    assert o.page.is_visible("#status") and "no finished trials yet" in o.page.text_content("#status")
    assert "nothing to plot" in o.page.text_content("#front-body")
    o = opened(pages["failed"][0])
    o.clean()
    assert "No trial has completed: 4 failed" in o.page.text_content("#status")
    reasons = o.page.text_content("#reasons-table")
    assert "failed: RuntimeError: model bug <img src=x onerror=alert(N)>" in reasons
    assert o.page.locator("img").count() == 0


# --- picking, links, zoom ------------------------------------------------------------------------

# every clickable marker of scatter `sel`, with its page pixel and marker radius
MARKERS = """(sel) => {
  const gd = document.querySelector(sel), fl = gd._fullLayout, r = gd.getBoundingClientRect();
  const out = [];
  gd.data.forEach((t, k) => {
    if (!['pareto', 'dominated', 'infeasible', 'baseline'].includes(t.uid) || gd._fullData[k].visible !== true) return;
    t.customdata.forEach((n, q) => {
      const size = Array.isArray(t.marker.size) ? t.marker.size[q] : t.marker.size;
      const rad = size / 2 + ((t.marker.line && t.marker.line.width) || 0) / 2;  // the painted radius
      const px = fl.xaxis.c2p(t.x[q]), py = fl.yaxis.c2p(t.y[q]);
      out.push({uid: t.uid, n, x: r.left + fl.xaxis._offset + px, y: r.top + fl.yaxis._offset + py,
                r: t.marker.symbol === 'star' ? 0.8 * rad : rad,
                shown: px >= 0 && px <= fl.xaxis._length && py >= 0 && py <= fl.yaxis._length});
    });
  });
  return out;
}"""

RING = """(sel) => { const t = document.querySelector(sel).data.find(t => t.uid === 'selected'); return [t.x, t.y]; }"""


def rel_text(pct):
    """How the page writes a relative change (report.js relText)."""
    return "\u00b10%" if abs(pct) < 0.05 else f"{'+' if pct >= 0 else chr(0x2212)}{abs(pct):.1f}%"


def _objective_values(study, n):
    t = study.get_trials(deepcopy=False)[n]
    return dict(zip(study.user_attrs["objectives"], t.values))


def _click_every_pareto_point(o, study, sel):
    """Click the exact pixel of each Pareto marker of scatter ``sel``, and the side of it that
    overlaps a dominated or infeasible marker (where plotly's nearest-centre rule picked the
    point underneath); returns how many such overlaps were clicked."""
    o.page.locator(sel).scroll_into_view_if_needed()
    marks = o.page.evaluate(MARKERS, sel)
    pareto = [m for m in marks if m["uid"] == "pareto" and m["shown"]]  # inside the plot area (zoom)
    assert pareto
    xname, yname = o.page.get_attribute(sel, "data-x"), o.page.get_attribute(sel, "data-y")
    scale = {d["name"]: d["scale"] for d in o.page.evaluate("dseReport.data.objectives")}
    contested = 0
    for m in pareto:
        # an overlapping dominated or infeasible marker: click the Pareto marker on the side
        # facing it (the Pareto marker is painted on top there, the other centre is closer)
        for q in marks:
            dist = float(np.hypot(q["x"] - m["x"], q["y"] - m["y"]))
            if q["uid"] not in ("dominated", "infeasible") or not 1.0 < dist <= m["r"] + q["r"]:
                continue
            f = 0.7 * m["r"] / dist
            x, y = m["x"] + f * (q["x"] - m["x"]), m["y"] + f * (q["y"] - m["y"])
            if any(np.hypot(z["x"] - x, z["y"] - y) <= z["r"] for z in marks
                   if z["n"] != m["n"] and z["uid"] in ("pareto", "baseline")):
                continue  # another Pareto point or a star is painted there too
            contested += 1
            o.page.evaluate("(sel) => { document.querySelector(sel)._mouseDownTime = 0; }", sel)
            o.page.mouse.click(x, y)
            assert int(o.page.get_attribute("body", "data-selected-trial")) == m["n"], (sel, m, q)
        # markers painted under the centre's pixel
        under = [q for q in marks if q["n"] != m["n"] and np.hypot(q["x"] - m["x"], q["y"] - m["y"]) <= q["r"]]
        stars = {q["n"] for q in under if q["uid"] == "baseline"}
        own_star = any(q["uid"] == "baseline" and q["n"] == m["n"] for q in marks)
        twins = {q["n"] for q in under if q["uid"] in ("pareto", "baseline") and np.hypot(q["x"] - m["x"], q["y"] - m["y"]) < 0.5}
        # two clicks within 300 ms are plotly's double-click (zoom reset): start the count afresh,
        # as a user's pause between two points would
        o.page.evaluate("(sel) => { document.querySelector(sel)._mouseDownTime = 0; }", sel)
        o.page.mouse.click(m["x"], m["y"])
        got = int(o.page.get_attribute("body", "data-selected-trial"))
        if stars and not own_star:  # another trial's baseline star painted over this point: the user sees and gets it
            assert got in stars
        else:
            assert got in {m["n"]} | twins, (sel, m, got)  # twins: another point on the same pixel
        # the page shows that trial, everywhere, with the stored values
        assert o.page.evaluate("location.hash") == f"#trial={got}"
        assert o.page.text_content("#details-title").startswith(f"Trial #{got} ")
        v = _objective_values(study, got)
        (rx,), (ry,) = o.page.evaluate(RING, sel)
        assert rx == pytest.approx(v[xname] * scale[xname], rel=1e-6)
        assert ry == pytest.approx(v[yname] * scale[yname], rel=1e-6)
        if got in {q["n"] for q in pareto}:
            assert "selected" in o.page.get_attribute(f'#pareto-table tr[data-trial="{got}"]', "class")
    return contested


def test_clicking_the_pixel_of_every_pareto_point_selects_exactly_it(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    for sel in ["#main-plot", "#front-0-1", "#front-0-2", "#front-1-2"]:
        _click_every_pareto_point(o, study, sel)
    o.clean()
    # a denser seeded study has Pareto markers painted over dominated ones: those clicks go
    # through the tie-break that plotly's nearest-centre rule got wrong
    path, study = pages["dense"]
    o = opened(path)
    assert _click_every_pareto_point(o, study, "#front-0-1") > 0
    o.clean()


def test_four_objectives_pick_right_with_colour_and_size(pages, opened):
    """The explorer carries the 3rd and 4th objectives as colour and marker size (hit radii
    differ per point); two pair plots cover the four axes."""
    path, study = pages["four"]
    o = opened(path)
    assert o.page.input_value("#main-color") == "2" and o.page.input_value("#main-size") == "3"
    sizes = o.page.evaluate("document.getElementById('main-plot').data.find(t => t.uid === 'pareto').marker.size")
    assert isinstance(sizes, list) and len(set(sizes)) > 1
    for sel in ["#main-plot", "#front-0-3", "#front-1-2"]:
        _click_every_pareto_point(o, study, sel)
    # another pair on the explorer's axes: the selection follows
    o.page.select_option("#main-x", "2")
    assert o.page.get_attribute("#main-plot", "data-x") == "dsp"
    n = int(o.page.get_attribute("body", "data-selected-trial"))
    (rx,), _ = o.page.evaluate(RING, "#main-plot")
    assert rx == pytest.approx(_objective_values(study, n)["dsp"], rel=1e-6)
    o.clean()


def test_a_link_opens_the_page_on_its_design_and_zoom_keeps_it(pages, opened):
    path, study = pages["three"]
    front = [t.number for t in pareto_trials(study)]
    n = front[-1]
    o = opened(path, f"#trial={n}")
    o.clean()
    assert o.page.get_attribute("body", "data-selected-trial") == str(n)
    assert o.page.text_content("#details-title").startswith(f"Trial #{n} ")
    # zoom the first pair plot onto that point: the selection stays, and picking still hits
    sel = "#front-0-1"
    o.page.locator(sel).scroll_into_view_if_needed()
    m = next(m for m in o.page.evaluate(MARKERS, sel) if m["n"] == n and m["uid"] == "pareto")
    before = o.page.evaluate("document.querySelector('#front-0-1')._fullLayout.xaxis.range.slice()")
    o.page.mouse.move(m["x"] - 40, m["y"] - 40)
    o.page.mouse.down()
    o.page.mouse.move(m["x"] + 40, m["y"] + 40, steps=5)
    o.page.mouse.up()
    o.page.wait_for_function(f"() => document.querySelector('#front-0-1')._fullLayout.xaxis.range[0] !== {before[0]}")
    after = o.page.evaluate("document.querySelector('#front-0-1')._fullLayout.xaxis.range.slice()")
    assert after[1] - after[0] < 0.5 * (before[1] - before[0])  # zoomed in
    assert o.page.get_attribute("body", "data-selected-trial") == str(n)
    assert [len(c) for c in o.page.evaluate(RING, sel)] == [1, 1]
    assert _click_every_pareto_point(o, study, sel) >= 0  # exact picks in the zoomed view too
    assert o.page.evaluate("document.querySelector('#front-0-1')._fullLayout.xaxis.range") == after  # still zoomed
    # a link to a trial the page does not draw says so
    bad = opened(path, "#trial=99999")
    bad.clean()
    assert "99999" in bad.page.text_content("#link-status") and bad.page.is_visible("#link-status")


# --- decision aids -------------------------------------------------------------------------------

def test_knee_is_marked_and_explained(pages, opened):
    path, study = pages["three"]
    front = pareto_trials(study)
    k, _ = knee_points(np.array([t.values for t in front]), ["minimize"] * 3)
    knees = sorted(front[j].number for j in k)
    o = opened(path)
    o.clean()
    assert sorted(o.page.evaluate("dseReport.data.knee.points")) == knees
    note = o.page.text_content("#knee-note")
    assert f"trial #{knees[0]}" in note and "farthest from the line" in note
    marked = o.page.evaluate("Array.from(document.querySelectorAll('.front-plot')).map(gd => gd.data.find(t => t.uid === 'knee').customdata)")
    assert all(sorted(c) == knees for c in marked)
    o.page.click("#knee-note a.knee-link")
    assert o.page.get_attribute("body", "data-selected-trial") == str(knees[0])
    assert "knee" in o.page.text_content("#details-title")


def test_compare_designs_side_by_side(pages, opened):
    path, study = pages["three"]
    trials = study.get_trials(deepcopy=False)
    o = opened(path)
    o.page.click("#compare-knee")  # the knee and the baselines
    knee = o.page.evaluate("dseReport.data.knee.points")
    bases = [t.number for t in trials if t.user_attrs.get("baseline") and "duplicate_of" not in t.user_attrs]
    want = list(dict.fromkeys(knee + bases))  # the knee may be a baseline itself
    heads = [int(x) for x in o.page.eval_on_selector_all("#compare-table th.design", "ts => ts.map(t => t.dataset.trial)")]
    assert heads == want
    assert o.page.evaluate("location.hash") == f"#trial={knee[0]}&compare={','.join(map(str, want))}"
    # objectives row: the stored values, each later column against the first
    lat = o.page.locator('#compare-table tr[data-row="latency_s"] td').all_text_contents()[1:]
    ref = trials[want[0]].values[0]
    for txt, n in zip(lat[1:], want[1:]):
        v = trials[n].values[0] if trials[n].values else None
        if v is not None:
            assert rel_text(100 * (v / ref - 1)) in txt
    # per layer: a highlighted cell exactly where a design's scheme differs from the first design's
    rows = o.page.locator("#compare-layers tbody tr")
    layers = [l["name"] for l in study.user_attrs["layers"]]
    assert rows.count() == len(layers)
    first = trials[want[0]].user_attrs["point"]["layers"]
    expect = 0
    for n in want[1:]:
        pl = trials[n].user_attrs["point"]["layers"]
        expect += sum(1 for name in layers if (pl[name]["kind"], pl[name]["w_bits"], pl[name].get("a_bits")) !=
                      (first[name]["kind"], first[name]["w_bits"], first[name].get("a_bits")))
    assert o.page.locator("#compare-layers td.diff").count() == expect
    # shift-click on a table row adds it; the x removes it
    extra = next(n for n in o.page.evaluate("dseReport.data.pareto") if n not in want)
    o.page.click(f'#pareto-table tr[data-trial="{extra}"]', modifiers=["Shift"])
    assert int(o.page.eval_on_selector_all("#compare-table th.design", "ts => ts.map(t => t.dataset.trial)")[-1]) == extra
    o.page.click(f'#compare-table th.design[data-trial="{extra}"] button.x')
    assert o.page.locator("#compare-table th.design").count() == len(want)
    # the link carries the comparison
    again = opened(path, o.page.evaluate("location.hash"))
    assert again.page.locator("#compare-table th.design").count() == len(want)
    o.clean()
    again.clean()


def test_numbers_relative_to_a_baseline(pages, opened):
    path, study = pages["three"]
    trials = study.get_trials(deepcopy=False)
    base = next(t for t in trials if t.user_attrs.get("baseline") and t.values)
    o = opened(path)
    assert o.page.input_value("#baseline-select") == str(base.number)  # the first measured baseline
    n = next(x for x in o.page.evaluate("dseReport.data.pareto") if x != base.number)
    o.page.evaluate(f"dseReport.select({n})")
    pct = 100 * (trials[n].values[0] / base.values[0] - 1)  # latency: never 0
    text = o.page.text_content("#details-body .kv")
    assert rel_text(pct) in text
    o.page.select_option("#baseline-select", "")
    assert "%" not in o.page.locator('#pareto-table tbody tr').first.locator("td").nth(3).text_content()
    o.clean()


def test_filters_and_brushes_reach_every_view(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    shown = o.page.evaluate("dseReport.data.trials")
    numbers, values, cats = shown["number"], shown["values"], shown["category"]
    scale = o.page.evaluate("dseReport.data.objectives[0].scale")
    lat = sorted(v[0] * scale for v in values if v[0] is not None)
    cut = lat[len(lat) // 2]
    o.page.click("#filter-box summary")
    o.page.fill("#filter-max-0", str(cut))
    o.page.wait_for_function(f"() => document.body.dataset.shown === '{sum(1 for v in values if v[0] is not None and v[0] * scale <= cut)}'")
    keep = {n for n, v in zip(numbers, values) if v[0] is not None and v[0] * scale <= cut}
    par = o.page.evaluate("Array.from(document.querySelectorAll('.front-plot')).map(gd => gd.data.find(t => t.uid === 'pareto').customdata)")
    front = {n for n, c in zip(numbers, cats) if c == "pareto"}
    assert all(set(p) == front & keep for p in par)
    visible = o.page.eval_on_selector_all("#pareto-table tbody tr:not([hidden])", "rs => rs.map(r => +r.dataset.trial)")
    assert set(visible) == front & keep
    assert o.page.evaluate("dseReport.state.heat.cols.length") == len(front & keep)
    o.page.click("#filter-reset")
    assert o.page.get_attribute("body", "data-shown") == str(len(numbers))
    # brush the LUT axis of the parallel coordinates with the mouse
    o.page.locator("#parcoords").scroll_into_view_if_needed()
    box = o.page.locator('#parcoords .pc-axis[data-objective="lut"] .pc-hit').bounding_box()
    x, y0, y1 = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.55, box["y"] + box["height"] - 2
    o.page.mouse.move(x, y0)
    o.page.mouse.down()
    o.page.mouse.move(x, y1, steps=6)
    o.page.mouse.up()
    (lo, hi), = o.page.evaluate("dseReport.state.brush[1]")
    want = {n for n, v in zip(numbers, values) if v[1] is not None and lo <= v[1] <= hi}
    o.page.wait_for_function(f"() => document.body.dataset.shown === '{len(want)}'")
    assert 0 < len(want) < len(numbers)
    assert set(o.page.evaluate("dseReport.passing()")) == want
    main = o.page.evaluate("document.getElementById('main-plot').data.filter(t => ['pareto','dominated','infeasible'].includes(t.uid)).flatMap(t => t.customdata)")
    assert set(main) <= want
    o.clean()


def test_the_design_leaves_the_page(pages, opened, tmp_path):
    path, study = pages["three"]
    url = str(path.parent / "s.journal")
    o = opened(path)
    n = o.page.evaluate("dseReport.data.pareto[1]")
    o.page.evaluate(f"dseReport.select({n})")
    cmd = o.page.text_content("#export-cmd")
    assert cmd == f"dse export --storage {url} --study three --trial {n} --plan-out plan-{n}.json"
    assert o.page.text_content("#hw-cmd") == f"dse hw eval --workload resnet18 --hwmodel systolic --plan plan-{n}.json"
    assert json.loads(o.page.text_content("#plan-json")) == json.loads(json.dumps(plan_of_trial(study, n)))
    with o.page.expect_download() as dl:
        o.page.click("#plan-download")
    assert dl.value.suggested_filename == f"plan-{n}.json"
    assert json.loads(Path(dl.value.path()).read_text()) == json.loads(json.dumps(plan_of_trial(study, n)))
    # the command does what it says
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "dse", *cmd.split()[1:]], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / f"plan-{n}.json").read_text()) == json.loads(o.page.text_content("#plan-json"))
    # a dominated design: no plan embedded, the command is there
    dom = next(t.number for t in study.get_trials(deepcopy=False) if t.values and feasible(t)
               and t.number not in o.page.evaluate("dseReport.data.pareto") and not t.user_attrs.get("baseline")
               and "duplicate_of" not in t.user_attrs)
    o.page.evaluate(f"dseReport.select({dom})")
    assert o.page.locator("#plan-json").count() == 0 and o.page.is_visible("#plan-missing")
    assert f"--trial {dom} " in o.page.text_content("#export-cmd")
    o.clean()


def test_per_layer_breakdown_of_the_selected_design(pages, opened):
    path, study = pages["three"]
    o = opened(path)
    n = o.page.evaluate("dseReport.data.pareto[0]")
    o.page.evaluate(f"dseReport.select({n})")
    heads = o.page.locator("#layer-table thead th").all_text_contents()
    assert {"cycles", "energy", "PE use", "% of cycles", "% of energy"} <= set(heads)
    rows = study.get_trials(deepcopy=False)[n].user_attrs["hw_layers"]
    cells = o.page.locator("#layer-table tbody tr").first.locator("td").all_text_contents()
    assert cells[heads.index("cycles")] == f"{round(rows[0]['cycles']):,}"
    total = sum(r["cycles"] for r in rows)
    assert cells[heads.index("% of cycles")] == f"{100 * rows[0]['cycles'] / total:.1f}%"
    o.clean()


def test_commands_quote_markup_and_quotes(pages, opened):
    path, study = pages["evil"]
    o = opened(path)
    o.clean()
    n = o.page.evaluate("dseReport.data.pareto[0]")
    o.page.evaluate(f"dseReport.select({n})")
    assert f"--study '{EVIL}' --trial {n}" in o.page.text_content("#export-cmd")
    assert o.page.locator("main script, main img").count() == 0 and o.dialogs == []


def test_single_objective_and_all_infeasible_studies_say_so(pages, opened):
    o = opened(pages["single"][0])
    o.clean()
    assert "needs two or more objectives" in o.page.text_content("#front-body")
    assert o.page.locator("#front-body .js-plotly-plot").count() == 0
    o = opened(pages["hopeless"][0])
    o.clean()
    assert "Pareto set is empty" in o.page.text_content("#front-body")
    assert "Pareto set is empty" in o.page.text_content("#table-body")
    assert "latency_s cap" in o.page.text_content("#reasons-table")


def test_old_study_without_per_layer_energy_says_not_recorded(pages, opened):
    o = opened(pages["old"][0])
    o.clean()
    note = o.page.text_content("#layer-fields-missing")
    assert "Not recorded" in note and "energy" in note and "PE use" in note
    heads = o.page.locator("#layer-table thead th").all_text_contents()
    assert "cycles" in heads and "energy" not in heads
    o.page.click("#compare-knee")
    assert "not recorded" not in o.page.text_content("#compare-layers thead")  # the energy column is left out
