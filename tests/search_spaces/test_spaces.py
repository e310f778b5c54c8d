import optuna
import pytest

from hwmodels import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, LayerSpec, QuantScheme, Resources,
                      Workload)
from search_spaces import (HardwarePiece, KindBitsPiece, SearchSpace, TermBudgetPiece, default_quant_pieces)

WL = Workload.chain("toy", [LayerSpec.conv("c1", 8, 8, 3, 3, 1, 8, padding=1),
                            LayerSpec.conv("c2", 8, 8, 3, 3, 8, 16, padding=1),
                            LayerSpec.conv("c3", 8, 8, 3, 3, 16, 16, padding=1),
                            LayerSpec.linear("fc", 1024, 10)])


class CountingModel(HardwareModel):
    """A small but real model: latency = MACs / (rows*cols) / clock."""

    name = "counting"

    def knobs(self):
        return (Knob("rows", "int", 8, low=2, high=64, log=True),
                Knob("dataflow", "categorical", "os", choices=("os", "ws", "is")),
                Knob("clock_hz", "float", 200e6, low=50e6, high=400e6),
                Knob("debug", "int", 0, low=0, high=1, search=False))

    def evaluate(self, workload, point):
        k = self.resolve_knobs(point)
        layers = tuple(LayerCost(l.name, l.macs / k["rows"], l.macs / k["rows"] / k["clock_hz"], 0.0, l.macs)
                       for l in workload.layers)
        return HwReport(self.name, "none", k["clock_hz"], layers, Resources(), Resources(1, 1, 1, 1, 1))


def space(**kw):
    return SearchSpace(default_quant_pieces(("fixed", "sp2", "term", "msq"), **kw) + [HardwarePiece(CountingModel())])


def test_param_names_are_flat_stable_and_conditional():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sp = space()
    seen: set[str] = set()
    kinds_seen = set()
    for _ in range(40):
        t = study.ask()
        point = sp.suggest(t, WL)
        study.tell(t, 0.0)
        assert isinstance(point, DesignPoint)
        seen |= set(t.params)
        for layer in ("c2", "c3"):
            kind = t.params[f"{layer}.kind"]
            kinds_seen.add(kind)
            # a parameter is sampled only when the layer's kind uses it
            assert (f"{layer}.terms_per_value" in t.params) == (kind == "term")
            assert (f"{layer}.group_size" in t.params) == (kind == "term")
            assert (f"{layer}.sp2_fraction" in t.params) == (kind == "msq")
            assert {f"{layer}.w_bits", f"{layer}.a_bits"} <= set(t.params)
        assert {"hw.rows", "hw.dataflow", "hw.clock_hz"} <= set(t.params)
    assert kinds_seen == {"fixed", "sp2", "term", "msq"}
    assert {"c2.kind", "c2.w_bits", "c2.a_bits", "c2.terms_per_value", "c2.group_size", "c2.sp2_fraction",
            "hw.rows", "hw.dataflow", "hw.clock_hz"} <= seen
    assert "hw.debug" not in seen  # search=False knobs keep their default
    assert not any(n.startswith(("c1.", "fc.")) for n in seen)  # first/last pinned by default


def test_shared_space_is_conditional_on_the_shared_kind():
    sp = SearchSpace(default_quant_pieces(("fixed", "term", "msq"), shared=True, first_last="search"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        t = study.ask()
        sp.suggest(t, WL)
        study.tell(t, 0.0)
        kind = t.params["all.kind"]
        assert ("all.group_size" in t.params) == (kind == "term")
        assert ("all.sp2_fraction" in t.params) == (kind == "msq")


#: a trial of a study made before the space became conditional: every parameter, inert or not
OLD_STATIC_PARAMS = {
    "c2.kind": "fixed", "c2.w_bits": 4, "c2.a_bits": 8, "c2.terms_per_value": 2.0, "c2.group_size": 4,
    "c2.sp2_fraction": 0.25, "c3.kind": "msq", "c3.w_bits": 4, "c3.a_bits": 8, "c3.terms_per_value": 3.0,
    "c3.group_size": 16, "c3.sp2_fraction": 0.5, "hw.rows": 8, "hw.dataflow": "ws", "hw.clock_hz": 2e8}


def test_old_static_trials_convert_to_the_same_point_and_resume():
    """An old study's trials (inert parameters included) still give their design point, and a
    study holding them resumes with the conditional space under multivariate, grouped TPE."""
    sp = space()
    p = sp.suggest(optuna.trial.FixedTrial(OLD_STATIC_PARAMS), WL)
    assert p.scheme_for("c2") == QuantScheme("fixed", 4, 8)
    assert p.scheme_for("c3") == QuantScheme("msq", 4, 8, sp2_fraction=0.5)
    assert p.knob_map == {"rows": 8, "dataflow": "ws", "clock_hz": 2e8}
    D = optuna.distributions
    dists = {"hw.rows": D.IntDistribution(2, 64, log=True), "hw.dataflow": D.CategoricalDistribution(["os", "ws", "is"]),
             "hw.clock_hz": D.FloatDistribution(50e6, 400e6)}
    for layer in ("c2", "c3"):
        dists.update({f"{layer}.kind": D.CategoricalDistribution(["fixed", "sp2", "term", "msq"]),
                      f"{layer}.w_bits": D.CategoricalDistribution([2, 3, 4, 5, 6, 8]),
                      f"{layer}.a_bits": D.CategoricalDistribution([4, 6, 8]),
                      f"{layer}.terms_per_value": D.CategoricalDistribution([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]),
                      f"{layer}.group_size": D.CategoricalDistribution([1, 4, 8, 16]),
                      f"{layer}.sp2_fraction": D.CategoricalDistribution([0.0, 0.25, 0.5, 0.75, 1.0])})
    study = optuna.create_study()
    for i in range(12):  # old trials: every parameter on every trial
        params = dict(OLD_STATIC_PARAMS, **{"hw.rows": 2 + i})
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(i)))
    old = study.trials
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, n_startup_trials=5)
    for _ in range(8):
        t = study.ask()
        point = sp.suggest(t, WL)
        study.tell(t, float(point.knob("rows")))
    assert [t.params for t in study.trials[:12]] == [t.params for t in old]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_first_last_pinned_to_fixed8():
    study = optuna.create_study()
    p = space().suggest(study.ask(), WL)
    assert p.scheme_for("c1") == QuantScheme("fixed", 8, 8) and p.scheme_for("fc") == QuantScheme("fixed", 8, 8)


def test_term_budget_scales_with_group_and_shared_mode():
    piece = [KindBitsPiece(kinds=("term",), w_bits=(8,), a_bits=(8,), shared=True, first_last="search"),
             TermBudgetPiece(terms_per_value=(1.5,), group_sizes=(8,), shared=True, first_last="search")]
    p = SearchSpace(piece).suggest(optuna.create_study().ask(), WL)
    for name in WL.layer_names:
        s = p.scheme_for(name)
        assert (s.kind, s.term_budget, s.group_size) == ("term", 12, 8)


def test_fixed_trial_round_trip_and_baseline_params():
    sp = space()
    params = sp.baseline_params(WL, 4, 4)
    t = optuna.trial.FixedTrial({**params, **{k: v for k, v in [("c2.terms_per_value", 2.0), ("c2.group_size", 4),
                                 ("c3.terms_per_value", 2.0), ("c3.group_size", 4), ("c2.sp2_fraction", 0.5),
                                 ("c3.sp2_fraction", 0.5)]}})
    p = sp.suggest(t, WL)
    assert p.scheme_for("c2") == QuantScheme("fixed", 4, 4)
    assert p.knob_map == {"rows": 8, "dataflow": "os", "clock_hz": 200e6}
    assert space(w_bits=(2, 3)).baseline_params(WL, 8, 8) is None  # 8 bits not in the space


def test_hardware_ranges_narrow_knobs():
    piece = HardwarePiece(CountingModel(), fixed={"dataflow": "ws"}, ranges={"rows": [4, 16]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        p = SearchSpace([piece]).suggest(study.ask(), WL)
        assert 4 <= p.knob("rows") <= 16 and p.knob("dataflow") == "ws"
    with pytest.raises(ValueError, match="rows"):
        HardwarePiece(CountingModel(), fixed={"rows": 1000}).contribute(study.ask(), WL, __import__("search_spaces").Fragment())


def test_search_spaces_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, search_spaces; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dimensions_sizes_and_draws_describe_the_conditional_space():
    import numpy as np

    sp = space()
    dims = {d.name: d for d in sp.dimensions(WL)}
    assert dims["c2.group_size"].when == ("c2.kind", "term") and dims["c2.sp2_fraction"].when == ("c2.kind", "msq")
    assert dims["c2.kind"].when is None and dims["hw.rows"].integer and dims["hw.rows"].log
    # per searched layer: kinds fixed, sp2 (6 x 3 each), term (x 6 x 4), msq (x 5); hardware has a float knob
    assert sp.size(WL) == float("inf")
    fixed_hw = SearchSpace(default_quant_pieces(("fixed", "sp2", "term", "msq")) +
                           [HardwarePiece(CountingModel(), fixed={"clock_hz": 2e8})])
    per_layer = 6 * 3 * (1 + 1 + 6 * 4 + 5)
    assert fixed_hw.size(WL) == per_layer ** 2 * 63 * 3
    assert fixed_hw.fixed_values(WL)["hw.clock_hz"] == 2e8
    rng = np.random.default_rng(0)
    rows = [dims["hw.rows"].draw(rng) for _ in range(500)]
    assert min(rows) >= 2 and max(rows) <= 64 and sum(r <= 8 for r in rows) > 150  # log-uniform: half below 11
    assert {dims["c2.kind"].draw(rng) for _ in range(100)} == {"fixed", "sp2", "term", "msq"}
