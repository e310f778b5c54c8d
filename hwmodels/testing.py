"""Contract test suite for hardware models: run it against your plug-in.

Two ways to use it::

    from hwmodels.testing import check_model
    check_model(MyModel())                 # raises AssertionError naming the broken rule

    from hwmodels.testing import HardwareModelContract
    class TestMyModel(HardwareModelContract):   # pytest collects one test per rule
        def make_model(self):
            return MyModel()

What it checks (the contract in :class:`hwmodels.base.HardwareModel`):

- knobs: a non-empty ``name``; unique knob names; every default valid; every choice /
  bound accepted by ``Knob.validate``; an unknown knob name and an out-of-range value in a
  point raise ``ValueError``;
- the defaults evaluate on a small reference workload (conv, depth-wise conv, linear);
- report units: one ``LayerCost`` per layer in order, names and MACs matching, cycles,
  latency_s and energy_j positive and finite, ``latency_s >= cycles / clock_hz``,
  cycles at least ``macs / peak_macs_per_cycle`` when the model states its peak,
  ``mac_bits`` / ``term_pairs`` equal :mod:`hwmodels.metrics`, resources and capacity
  non-negative, the report JSON-serialisable;
- determinism: the same point twice, and on a fresh instance, gives an identical report;
- knob sweep: each knob at each choice / bound either evaluates (with sane units) or
  raises :class:`~hwmodels.base.Unsupported` with a non-empty reason; nothing else;
- schemes: every number-format kind likewise evaluates or raises ``Unsupported``;
- fit: every resource over capacity is in ``violations`` and ``fits`` is ``not
  violations``;
- monotonicity: twice the filters in every layer never takes fewer cycles.

Nothing here imports pytest; plain ``assert`` statements with messages.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Iterable

from .base import DesignPoint, HardwareModel, HwReport, Knob, Unsupported, check_fit
from .formats import QuantScheme
from .metrics import layer_mac_bits, layer_term_pairs
from .workload import LayerSpec, Workload

#: the reference workload: a 3x3 conv, a depth-wise conv and a linear layer
REFERENCE_WORKLOAD = Workload.chain("contract", [
    LayerSpec.conv("conv", 16, 16, 3, 3, 8, 16, padding=1),
    LayerSpec.conv("dw", 16, 16, 3, 3, 16, 16, stride=2, padding=1, groups=16),
    LayerSpec.linear("fc", 16 * 8 * 8, 10),
])

#: one scheme of every kind
REFERENCE_SCHEMES = (
    QuantScheme("fixed", 8, 8), QuantScheme("fixed", 4, 4), QuantScheme("pow2", 4, 8),
    QuantScheme("sp2", 4, 4), QuantScheme("term", 8, 8, term_budget=8, group_size=4),
    QuantScheme("msq", 4, 4, sp2_fraction=0.5),
)


def _fail(model: HardwareModel, msg: str) -> AssertionError:
    return AssertionError(f"hardware model {getattr(model, 'name', '?')!r}: {msg}")


def check_knobs(model: HardwareModel) -> None:
    assert isinstance(model.name, str) and model.name, _fail(model, "needs a non-empty `name`")
    knobs = model.knobs()
    assert isinstance(knobs, tuple) and all(isinstance(k, Knob) for k in knobs), \
        _fail(model, "knobs() must return a tuple of Knob")
    names = [k.name for k in knobs]
    assert len(names) == len(set(names)), _fail(model, f"duplicate knob names in {names}")
    for k in knobs:
        for v in (k.default, *_knob_values(k)):
            try:
                k.validate(v)
            except ValueError as e:
                raise _fail(model, f"knob {k.name} rejects its own default/bound/choice {v!r}: {e}") from None
    try:
        model.resolve_knobs(DesignPoint.make(knobs={"__no_such_knob__": 1}))
    except ValueError:
        pass
    else:
        raise _fail(model, "an unknown knob name must raise ValueError")
    for k in knobs:
        if k.kind != "categorical":
            bad = k.high * 2 + 1 if k.high is not None else None
            if bad is not None and bad > k.high:
                try:
                    model.resolve_knobs(DesignPoint.make(knobs={k.name: bad}))
                except ValueError:
                    continue
                raise _fail(model, f"knob {k.name}={bad} is above its high bound but was accepted")


def _knob_values(k: Knob) -> Iterable[Any]:
    if k.kind == "categorical":
        return k.choices
    vals = [k.low, k.high]
    return [int(v) if k.kind == "int" else float(v) for v in vals]


def check_report(model: HardwareModel, workload: Workload, point: DesignPoint, report: HwReport) -> None:
    """Units and bookkeeping of one report."""
    assert isinstance(report, HwReport), _fail(model, f"evaluate() returned {type(report).__name__}")
    assert report.model == model.name, _fail(model, f"report.model is {report.model!r}")
    assert report.clock_hz > 0 and math.isfinite(report.clock_hz), _fail(model, "clock_hz must be > 0")
    got = [l.name for l in report.layers]
    assert got == list(workload.layer_names), _fail(model, f"layers {got} != workload {list(workload.layer_names)}")
    peak = report.peak_macs_per_cycle
    for layer, cost in zip(workload.layers, report.layers):
        scheme = point.scheme_for(layer.name)
        where = f"layer {layer.name}"
        assert cost.macs == layer.macs, _fail(model, f"{where}: macs {cost.macs} != {layer.macs}")
        for f in ("cycles", "latency_s", "energy_j"):
            v = getattr(cost, f)
            assert math.isfinite(v) and v > 0, _fail(model, f"{where}: {f} must be positive and finite, got {v}")
        assert cost.latency_s >= cost.cycles / report.clock_hz * (1 - 1e-9), \
            _fail(model, f"{where}: latency_s {cost.latency_s} < cycles / clock_hz")
        if peak:
            assert cost.cycles >= layer.macs / peak * (1 - 1e-9), \
                _fail(model, f"{where}: {cost.cycles} cycles beat the peak bound macs/peak = {layer.macs / peak}")
        assert math.isclose(cost.mac_bits, layer_mac_bits(layer, scheme), rel_tol=1e-9), \
            _fail(model, f"{where}: mac_bits {cost.mac_bits} != MACs x w_bits")
        assert math.isclose(cost.term_pairs, layer_term_pairs(layer, scheme), rel_tol=1e-9), \
            _fail(model, f"{where}: term_pairs {cost.term_pairs} != MACs x weight terms x act terms")
        assert cost.bytes_offchip >= 0 and cost.utilization >= 0, _fail(model, f"{where}: negative traffic/utilization")
    for name, v in report.resources.as_dict().items():
        assert v >= 0 and math.isfinite(v), _fail(model, f"resources.{name} = {v}")
    for name, v in report.capacity.as_dict().items():
        assert v >= 0 and math.isfinite(v), _fail(model, f"capacity.{name} = {v}")
    over = check_fit(report.resources, report.capacity)
    for line in over:
        assert line in report.violations, _fail(model, f"resource over capacity not reported: {line}")
    assert report.fits == (not report.violations), _fail(model, "fits must be `not violations`")
    json.dumps(report.to_dict())


def _evaluate_or_unsupported(model: HardwareModel, workload: Workload, point: DesignPoint, what: str) -> HwReport | None:
    try:
        report = model.evaluate(workload, point)
    except Unsupported as e:
        assert isinstance(e.reason, str) and e.reason.strip(), _fail(model, f"{what}: Unsupported needs a reason")
        return None
    except Exception as e:  # noqa: BLE001 - the contract allows only Unsupported here
        raise _fail(model, f"{what}: raised {type(e).__name__}: {e} (only Unsupported is allowed)") from e
    check_report(model, workload, point, report)
    return report


def check_defaults(model: HardwareModel, workload: Workload = REFERENCE_WORKLOAD) -> HwReport:
    point = DesignPoint.make()
    report = _evaluate_or_unsupported(model, workload, point, "default point")
    assert report is not None, _fail(model, "the default point (8-bit fixed, default knobs) must evaluate")
    return report


def check_determinism(model: HardwareModel, factory: Callable[[], HardwareModel] | None = None,
                      workload: Workload = REFERENCE_WORKLOAD) -> None:
    point = DesignPoint.make()
    a = model.evaluate(workload, point).to_dict()
    b = model.evaluate(workload, point).to_dict()
    assert a == b, _fail(model, "two evaluations of the same point differ")
    if factory is not None:
        c = factory().evaluate(workload, point).to_dict()
        assert a == c, _fail(model, "a fresh instance prices the same point differently")


def check_knob_sweep(model: HardwareModel, workload: Workload = REFERENCE_WORKLOAD) -> int:
    """Each knob at each choice / bound, others at default; returns how many evaluated."""
    ok = 0
    for k in model.knobs():
        for v in _knob_values(k):
            point = DesignPoint.make(knobs={k.name: v})
            ok += _evaluate_or_unsupported(model, workload, point, f"knob {k.name}={v!r}") is not None
    return ok


def check_schemes(model: HardwareModel, schemes: Iterable[QuantScheme] = REFERENCE_SCHEMES,
                  workload: Workload = REFERENCE_WORKLOAD) -> int:
    ok = 0
    for s in schemes:
        point = DesignPoint.make(default_scheme=s)
        ok += _evaluate_or_unsupported(model, workload, point, f"scheme {s.to_dict()}") is not None
    return ok


def check_plan_names(model: HardwareModel, workload: Workload = REFERENCE_WORKLOAD) -> None:
    point = DesignPoint.make(schemes={"__no_such_layer__": QuantScheme()})
    try:
        model.evaluate(workload, point)
    except (ValueError, KeyError):
        return
    raise _fail(model, "a plan naming a layer not in the workload must raise ValueError")


def check_monotone(model: HardwareModel, workload: Workload = REFERENCE_WORKLOAD) -> None:
    wider = Workload.chain(workload.name + "-x2", [
        LayerSpec(**{**{f: getattr(l, f) for f in l.__dataclass_fields__}, "N": 2 * l.N}) for l in workload.layers])
    point = DesignPoint.make()
    a, b = model.evaluate(workload, point), model.evaluate(wider, point)
    assert b.cycles >= a.cycles, _fail(model, f"twice the filters took fewer cycles ({b.cycles} < {a.cycles})")


def check_model(model: HardwareModel, factory: Callable[[], HardwareModel] | None = None,
                workload: Workload = REFERENCE_WORKLOAD) -> None:
    """Run every contract check on ``model``; raise ``AssertionError`` on the first broken
    rule. ``factory`` (optional) builds a fresh instance for the determinism check."""
    check_knobs(model)
    check_defaults(model, workload)
    check_determinism(model, factory, workload)
    check_knob_sweep(model, workload)
    check_schemes(model, workload=workload)
    check_plan_names(model, workload)
    check_monotone(model, workload)


class HardwareModelContract:
    """Subclass in a test module (name it ``Test...``) and implement :meth:`make_model`;
    pytest then runs one test per contract rule."""

    def make_model(self) -> HardwareModel:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def test_knobs(self) -> None:
        check_knobs(self.make_model())

    def test_defaults_evaluate(self) -> None:
        check_defaults(self.make_model())

    def test_deterministic(self) -> None:
        check_determinism(self.make_model(), self.make_model)

    def test_knob_sweep(self) -> None:
        check_knob_sweep(self.make_model())

    def test_schemes(self) -> None:
        check_schemes(self.make_model())

    def test_plan_names(self) -> None:
        check_plan_names(self.make_model())

    def test_monotone(self) -> None:
        check_monotone(self.make_model())
