"""The papers' methods as applications of the core (issue 17): each multi-resolution setting
declared once (by the config), the format kinds taken from the format registry."""

from dataclasses import MISSING, fields

import pytest

from dse.config import MultiresConfig, parse_config
from dse.methods.multires import MultiresSpec, TermBudget
from hwmodels.formats import get_format


def _declaring_field(f):
    section, name = f.metadata["declared"].split(".")
    import dse.config as config

    return {g.name: g for g in fields(getattr(config, section))}[name]


def test_every_spec_field_is_declared_by_a_config_setting():
    for f in fields(MultiresSpec):
        src = _declaring_field(f)
        assert f.metadata["constraint"] is src.metadata["constraint"], f.name
        assert f.metadata["doc"] == src.metadata["doc"] and f.metadata["doc"], f.name
        if f.name not in ("budgets", "first_last"):  # TermBudgets; a spec has no "follow the space"
            assert f.default == src.default, f.name
    assert [b.act_terms for b in MultiresSpec().budgets] == [a for a, _ in MultiresConfig().budgets]


def test_a_bound_declared_in_the_config_binds_the_spec():
    MultiresSpec(epochs=10000)
    with pytest.raises(ValueError, match=r"^epochs: must be an integer in \[1, 10000\], got 10001"):
        MultiresSpec(epochs=10001)
    with pytest.raises(ValueError, match=r"^temperature: must be in \(0, 100\], got 0"):
        MultiresSpec(temperature=0)


def test_from_config_fills_every_declared_setting_from_the_study():
    cfg = parse_config({
        "study": {"name": "x", "objectives": ["accuracy", "latency_s"], "fidelity": "multires"},
        "workload": {"name": "digits"},
        "space": {"kinds": ["term"], "granularity": "per_tensor", "group_sizes": [8], "w_bits": [6],
                  "a_bits": [6], "first_last": "fixed8"},
        "finetune": {"batch_size": 64, "pretrain_epochs": 3, "optimizer": "sgd"},
        "multires": {"budgets": ["2:4", "3:6"], "group": 8, "w_bits": 6, "a_bits": 6, "epochs": 3, "lr": 0.01,
                     "distill_weight": 0.5, "temperature": 2.0},
    })
    spec = MultiresSpec.from_config(cfg)
    assert spec.budgets == (TermBudget(2, 4), TermBudget(3, 6))
    assert (spec.group_size, spec.w_bits, spec.a_bits, spec.epochs, spec.lr) == (8, 6, 6, 3, 0.01)
    assert (spec.distill_weight, spec.temperature, spec.granularity) == (0.5, 2.0, "per_tensor")
    assert (spec.batch_size, spec.pretrain_epochs, spec.first_last) == (64, 3, "fixed8")
    assert spec.optimizer == "adam"  # the fine-tune's optimizer setting is not the method's
    filled = {f.metadata["config"] for f in fields(MultiresSpec) if f.metadata["config"]}
    assert {f"multires.{f.name}" for f in fields(MultiresConfig)} - filled == {"multires.calibration_batches",
                                                                              "multires.checkpoint"}


def test_methods_take_format_kinds_from_the_registry():
    from dse.methods import msq
    from dse.methods.multires import spec

    assert (msq.SP2, msq.FIXED) == get_format(msq.MSQ).row_formats
    assert get_format(spec.TERM).term_based
    assert MultiresSpec().fixed_scheme.kind == get_format("fixed").kind
    assert MISSING not in (f.default for f in fields(MultiresSpec))
