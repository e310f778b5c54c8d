import tomllib
from pathlib import Path

import pytest

from dse.config import Cap, load_config, parse_config
from dse.errors import UserError

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("examples").glob("*.toml"))


def test_builtin_default():
    cfg = load_config(None)
    assert cfg.workload == "digits" and cfg.objectives == ("accuracy", "latency_s") and cfg.sampler == "tpe"
    assert cfg.directions == ["maximize", "minimize"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse(path):
    cfg = load_config(path)
    assert len(cfg.objectives) >= 2


@pytest.mark.parametrize("doc, message", [
    ({"studdy": {}}, "studdy: unknown key; allowed: constraints, finetune, hardware, sampler, space, study, workload"),
    ({"study": {"trials": "ten"}}, "study.trials: expected an integer, got str 'ten'"),
    ({"study": {"trials": 0}}, "study.trials: must be in [1, 10000000], got 0"),
    ({"study": {"objectives": ["accuracy"]}}, "study.objectives: need two or more objectives"),
    ({"study": {"objectives": ["accuracy", "speed"]}}, "study.objectives[1]: unknown value 'speed'; allowed: accuracy"),
    ({"study": {"objectives": ["lut", "lut"]}}, "study.objectives: has duplicate entries"),
    ({"space": {"kinds": ["fixed", "float"]}}, "space.kinds[1]: unknown value 'float'; allowed: fixed, pow2"),
    ({"space": {"w_bits": [4, 33]}}, "space.w_bits[1]: must be in [2, 16], got 33"),
    ({"space": {"sp2_fractions": [1.5]}}, "space.sp2_fractions[0]: must be <= 1, got 1.5"),
    ({"space": {"shared": "yes"}}, "space.shared: expected true or false"),
    ({"space": {"kinds": ["pow2"], "w_bits": [8]}}, "space.w_bits: kind pow2 needs at least one width <= 6"),
    ({"sampler": {"name": "cmaes"}}, "sampler.name: unknown value 'cmaes'; allowed: tpe, nsga2, nsga3, gp, random"),
    ({"constraints": {"caps": ["latency_s < 3"]}}, "constraints.caps[0]: cannot parse 'latency_s < 3'"),
    ({"constraints": {"caps": ["speed <= 3"]}}, "constraints.caps[0]: unknown metric 'speed'"),
    ({"finetune": {"lr": 0}}, "finetune.lr: must be > 0, got 0"),
    ({"finetune": {"optimizer": "lbfgs"}}, "finetune.optimizer: unknown value 'lbfgs'; allowed: sgd, adam, adamw"),
    ({"study": {"fidelity": "none"}}, "study.fidelity: 'none' (hardware only) cannot score 'accuracy'"),
    ({"hardware": {"fixed": 3}}, "hardware.fixed: expected a table of knob = value"),
    ({"space": []}, "space: expected a [space] table"),
])
def test_bad_config_names_field(doc, message):
    with pytest.raises(UserError) as e:
        parse_config(doc)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_caps_parse_and_violation_sign():
    cfg = parse_config({"constraints": {"caps": ["latency_s <= 2e-3", "accuracy >= 0.9"]}})
    lat, acc = cfg.caps
    assert lat == Cap("latency_s", "<=", 2e-3) and acc == Cap("accuracy", ">=", 0.9)
    assert lat.violation(1e-3) < 0 < lat.violation(3e-3)
    assert acc.violation(0.95) < 0 < acc.violation(0.8)
    assert lat.violation(3e-3) == pytest.approx(0.5)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UserError, match="config: no such file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=1")
    with pytest.raises(UserError, match="is not valid TOML"):
        load_config(bad)


def test_round_trip_via_stored_dict():
    doc = tomllib.loads(EXAMPLES[0].read_text())
    assert parse_config(doc).to_dict() == parse_config(doc).to_dict()


def test_builtin_demo_equals_the_example_file():
    from dse.config import DEMO

    assert parse_config(DEMO).to_dict() == load_config(EXAMPLES[[p.name for p in EXAMPLES].index("digits.toml")]).to_dict()
