"""The dry run's cost of a screened study: every feasible candidate screened, then a range of
full fine-tunes (the warm-up only .. all promoted), since the promotion rate is unknown before
the search."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from dse import preflight
from dse.config import parse_config
from dse.study import resolve
from dse.study.cost import Cost, StepTiming, cost, screen_seconds

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist1d_screen.toml"


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    yield resolve(parse_config(raw, source=str(EXAMPLE))), raw
    mp.undo()


def test_screen_seconds_follow_the_estimate_kind(screened):
    r, _ = screened
    t = StepTiming(step_s=0.01, train_batches=20, val_batches=6)
    assert screen_seconds(r, t) == pytest.approx(0.01 * r.cfg.screen.steps + 0.01 / 3 * 6)
    sens = dataclasses.replace(r, cfg=dataclasses.replace(r.cfg, screen=dataclasses.replace(r.cfg.screen,
                                                                                              estimate="sensitivity")))
    assert screen_seconds(sens, t) == pytest.approx(0.01 / 3 * 6 * len(r.workload.layers))


def test_dry_run_cost_of_a_screened_study_is_a_range(screened):
    r, raw = screened
    pf = preflight.estimate(r)
    c = cost(r, pf)
    n_feasible = r.cfg.trials * pf.share
    assert c.screen_s > 0 and c.finetune_s > c.screen_s  # 10 steps cost less than an epoch
    assert c.finetunes == pytest.approx(n_feasible) and c.min_finetunes == r.cfg.screen.warmup
    assert c.total_s == pytest.approx(c.hardware_s + (c.finetune_s + c.screen_s) * n_feasible)
    assert c.low_s == pytest.approx(c.hardware_s + c.screen_s * n_feasible + c.finetune_s * r.cfg.screen.warmup)
    assert c.low_s < c.total_s
    text = c.summary()
    assert f"{n_feasible:.0f} screens x" in text and f"{r.cfg.screen.warmup} (warm-up only) to" in text
    assert "(all promoted) fine-tunes" in text
    # without the section the estimate is a single figure, as before
    plain = Cost(c.trials, c.hardware_s, c.finetune_s, c.finetunes, c.pretrain_cached)
    assert plain.low_s == plain.total_s < c.total_s and plain.summary().startswith("about ")
