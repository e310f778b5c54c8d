"""The report in a real browser: Debian's headless Chromium driven by Playwright, pages
opened from file:// with a fresh profile. No console errors, no network requests, the
Pareto plot holds the Pareto set, hovering and clicking a point or a table row shows it,
malicious names stay text."""

import base64
import os
import tempfile
from pathlib import Path

import pytest

from dse.report import write_report
from dse.study import pareto_trials
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
    for key, doc in {
        "three": hw_doc("three", trials=40),
        "four": hw_doc("four", ("latency_s", "lut", "dsp", "avg_weight_bits"), trials=25),
        "evil": hw_doc(EVIL, ("latency_s", "lut"), trials=20, workload="test_report:evil_layers"),
    }.items():
        study = make_study(url, doc)
        out[key] = (write_report(study, root / f"{key}.html"), study)
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

    def __init__(self, ctx, path: Path):
        self.page = ctx.new_page()
        self.errors, self.requests, self.dialogs = [], [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
        self.ready = self.page.get_attribute("body", "data-ready")

    def clean(self):
        assert self.ready == "ok"
        assert self.errors == []
        assert self.requests == [self.url], "the page must fetch nothing but itself"
        assert self.dialogs == []


@pytest.fixture
def opened(browser):
    made = []

    def open_(path):
        o = Opened(browser, path)
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
    first = o.page.evaluate("dseReport.data.pareto[0]")
    assert f"#{first} " in o.page.text_content("#details-title")  # the best point is preselected
    candidates = [n for n in o.page.evaluate("dseReport.data.pareto") if n != first]
    assert candidates
    o.page.locator(".front-plot").first.scroll_into_view_if_needed()
    spots = {n: o.page.evaluate(POINT_XY, n) for n in candidates}
    n = max(spots, key=lambda k: spots[k]["nearest"])
    xy = spots[n]
    o.page.mouse.move(xy["x"], xy["y"])
    o.page.wait_for_function("document.querySelector('.front-plot .hoverlayer').textContent.includes('trial #')")
    hover = o.page.text_content(".front-plot .hoverlayer")
    assert f"trial #{n} " in hover and "latency_s:" in hover
    o.page.mouse.click(xy["x"], xy["y"])
    o.page.wait_for_function(f"document.getElementById('details-title').textContent.includes('#{n} ')")
    layers = study.user_attrs["layers"]
    assert o.page.locator("#layer-table tbody tr").count() == len(layers)
    first_row = [c.strip() for c in o.page.locator("#layer-table tbody tr").first.locator("td").all_text_contents()]
    hw0 = study.get_trials()[n].user_attrs["hw_layers"][0]
    assert first_row[0] == hw0["name"] == layers[0]["name"] and first_row[1] == hw0["kind"]
    assert o.page.get_attribute(f'#pareto-table tr[data-trial="{n}"]', "class") == "selected"
    # the selection ring moved to that point in every pair plot
    sel = o.page.evaluate("Array.from(document.querySelectorAll('.front-plot')).map(gd => gd.data.find(t => t.uid === 'selected').x.length)")
    assert sel == [1, 1, 1]
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
    o.page.wait_for_function(f"document.getElementById('details-title').textContent.includes('#{n} ')")
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
