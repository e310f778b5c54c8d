"""Every registered model passes the shipped contract suite; broken models fail it."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from hwmodels import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, get_model,
                      list_models)
from hwmodels.base import check_fit
from hwmodels.metrics import layer_mac_bits, layer_term_pairs
from hwmodels.testing import HardwareModelContract, check_model

BUILTINS = ("bitserial", "hetero", "systolic", "termserial")


def test_builtins_are_registered_through_entry_points():
    assert set(BUILTINS) <= set(list_models())


@pytest.mark.parametrize("name", list_models())  # every registered model, built-in or plug-in
def test_contract(name):
    check_model(get_model(name), factory=lambda: get_model(name))


class TestSystolicContract(HardwareModelContract):
    """The pytest form of the same suite, as a plug-in author would use it."""

    def make_model(self):
        return get_model("systolic", rows=8, cols=8)


class GoodModel(HardwareModel):
    """A minimal correct model: one MAC per cycle per lane."""

    name = "good"
    description = "test double"

    def knobs(self):
        return (Knob("lanes", "int", 4, low=1, high=64),)

    def cost(self, layer, scheme, lanes):
        cycles = float(math.ceil(layer.macs / lanes))
        return LayerCost(layer.name, cycles, cycles / 1e8, layer.macs * 1e-12, layer.macs,
                         compute_cycles=cycles, mac_bits=layer_mac_bits(layer, scheme),
                         term_pairs=layer_term_pairs(layer, scheme))

    def evaluate(self, workload, point):
        from hwmodels import schemes_for
        kv = self.resolve_knobs(point)
        layers = tuple(self.cost(l, s, kv["lanes"]) for l, s in schemes_for(workload, point))
        res, cap = Resources(lut=100.0 * kv["lanes"]), Resources(lut=1000.0, ff=1.0, dsp=1.0, bram18=1.0)
        return HwReport(self.name, "dev", 1e8, layers, res, cap, check_fit(res, cap),
                        peak_macs_per_cycle=float(kv["lanes"]))


def test_good_model_passes():
    check_model(GoodModel(), GoodModel)


class NegativeEnergy(GoodModel):
    def cost(self, layer, scheme, lanes):
        return replace(super().cost(layer, scheme, lanes), energy_j=-1.0)


class TooFast(GoodModel):
    def cost(self, layer, scheme, lanes):
        c = super().cost(layer, scheme, lanes)
        return replace(c, cycles=c.cycles / 10, latency_s=c.latency_s / 10)


class HidesViolations(GoodModel):
    def evaluate(self, workload, point):
        return replace(super().evaluate(workload, point), violations=())


class Flaky(GoodModel):
    calls = 0

    def cost(self, layer, scheme, lanes):
        Flaky.calls += 1
        return replace(super().cost(layer, scheme, lanes), energy_j=1e-9 * Flaky.calls)


class CrashesOnKnob(GoodModel):
    def evaluate(self, workload, point):
        if self.resolve_knobs(point)["lanes"] == 64:
            raise RuntimeError("boom")
        return super().evaluate(workload, point)


class EmptyUnsupported(GoodModel):
    def evaluate(self, workload, point):
        from hwmodels import Unsupported
        if point.default_scheme.kind == "pow2":
            raise Unsupported("")
        return super().evaluate(workload, point)


class WrongMacBits(GoodModel):
    def cost(self, layer, scheme, lanes):
        return replace(super().cost(layer, scheme, lanes), mac_bits=0.0)


@pytest.mark.parametrize("broken, message", [
    (NegativeEnergy, "energy_j must be positive"),
    (TooFast, "beat the peak bound"),
    (HidesViolations, "resource over capacity not reported: lut: 6400 > 1000"),
    (Flaky, "two evaluations of the same point differ"),
    (CrashesOnKnob, "knob lanes=64: raised RuntimeError: boom"),
    (EmptyUnsupported, "Unsupported needs a reason"),
    (WrongMacBits, "mac_bits 0.0 != MACs x w_bits"),
])
def test_contract_catches_broken_models(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_model(broken(), broken)


def test_defaults_point_is_the_documented_one():
    rep = get_model("systolic").evaluate(
        __import__("hwmodels.testing", fromlist=["REFERENCE_WORKLOAD"]).REFERENCE_WORKLOAD, DesignPoint.make())
    assert rep.device == "XC7Z045" and rep.clock_hz == 200e6 and rep.peak_macs_per_cycle == 256
