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


def test_param_names_are_flat_stable_and_static():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sp = space()
    names = None
    for _ in range(15):
        t = study.ask()
        point = sp.suggest(t, WL)
        study.tell(t, 0.0)
        assert isinstance(point, DesignPoint)
        if names is None:
            names = set(t.params)
        assert set(t.params) == names  # static: every trial has every parameter
    assert {"c2.kind", "c2.w_bits", "c2.a_bits", "c2.terms_per_value", "c2.group_size", "c2.sp2_fraction",
            "hw.rows", "hw.dataflow", "hw.clock_hz"} <= names
    assert "hw.debug" not in names  # search=False knobs keep their default
    assert not any(n.startswith(("c1.", "fc.")) for n in names)  # first/last pinned by default


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
