"""``dse train`` and ``dse finetune`` from the command line."""

from __future__ import annotations

import json
import os

import pytest

from dse.cli import main

PRE = ["--pretrain-epochs", "1"]


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


def cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_train_then_cached(capsys, cache):
    rc, out, err = cli(capsys, "train", "digits", "--epochs", "1", "--cache-dir", cache)
    assert rc == 0 and "digits: FP32 validation accuracy" in out and "trained in" in out
    assert "pre-training digits" in err  # a note, not a progress bar (stderr is not a TTY)
    rc, out, err = cli(capsys, "train", "digits", "--epochs", "1", "--cache-dir", cache, "--quiet")
    assert rc == 0 and "from cache" in out and err == ""
    rc, out, _ = cli(capsys, "train", "digits", "--epochs", "1", "--cache-dir", cache, "--json")
    data = json.loads(out)
    assert data["from_cache"] and data["epochs"] == 1 and 0 < data["float_accuracy"] <= 1
    assert os.path.exists(data["path"]) and data["path"].startswith(cache)


def test_finetune_plan_json(capsys, tmp_path, cache):
    plan = write(tmp_path, "plan.json", json.dumps({
        "layers": {"conv1": {"kind": "fixed", "w_bits": 8, "a_bits": 8},
                   "conv2": {"kind": "term", "w_bits": 6, "term_budget": 4, "group_size": 4},
                   "fc": {"kind": "pow2", "w_bits": 4}},
        "hardware": {"rows": 16}}))
    rc, out, err = cli(capsys, "finetune", "digits", "--plan", plan, "--steps", "3", "--cache-dir", cache,
                       "--json", "--quiet", *PRE)
    assert rc == 0 and err == ""
    data = json.loads(out)
    for key in ("accuracy", "float_accuracy", "time_s", "epochs_run", "steps", "aborted", "reason", "history"):
        assert key in data
    assert 0 <= data["accuracy"] <= 1 and data["steps"] == 3 and data["layers_quantized"] == 3
    assert data["budget"]["steps"] == 3 and data["workload"] == "digits"
    rc, out, _ = cli(capsys, "finetune", "digits", "--plan", plan, "--epochs", "1", "--cache-dir", cache,
                     "--quiet", *PRE)
    assert rc == 0 and out.startswith("digits: accuracy ") and "3 layers quantized" in out


def test_finetune_uniform_scheme_and_options(capsys, cache):
    rc, out, _ = cli(capsys, "finetune", "digits", "--scheme", "fixed:4,a_bits=4", "--epochs", "0",
                     "--cache-dir", cache, "--quiet", "-o", "width=8", *PRE)
    assert rc == 0 and "4 layers quantized" in out and "0 epochs" in out


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    ('{"layers": {"conv9": {"kind": "fixed"}}}', "conv9"),
    ('{"layers": {"conv1": {"kind": "fixed", "bits": 4}}}', "bits: unknown scheme field"),
    ('{"layers": {"conv1": {"kind": "fixed", "w_bits": 1}}}', "w_bits"),
    ('[1, 2]', "must be a JSON object"),
    ('{"conv1": {"kind": "fixed"}}', "must be a JSON object"),
])
def test_bad_plan_is_one_line_exit_2_before_training(capsys, tmp_path, cache, content, message):
    plan = str(tmp_path / "missing.json") if content is None else write(tmp_path, "plan.json", content)
    rc, out, err = cli(capsys, "finetune", "digits", "--plan", plan, "--cache-dir", cache, *PRE)
    assert rc == 2 and out == ""
    assert err.startswith("dse: error: ") and err.count("\n") == 1 and message in err
    assert not os.path.exists(cache)  # nothing was trained


@pytest.mark.parametrize("argv, message", [
    (["finetune", "digits", "--scheme", "fixed:4", "--optimizer", "rmsprop"], "--optimizer"),
    (["finetune", "digits", "--scheme", "fixed:4", "--lr", "-1"], "--lr"),
    (["finetune", "digits", "--scheme", "wide:4"], "--scheme"),
    (["finetune", "digits", "--scheme", "fixed:4", "--torch-device", "tpu"], "--torch-device"),
    (["finetune", "resnet18", "--scheme", "fixed:4"], "shape-only"),
    (["train", "resnet18"], "shape-only"),
    (["train", "digits", "--epochs", "0"], "--epochs"),
    (["train", "nope"], "unknown workload"),
])
def test_bad_arguments_are_one_line_exit_2(capsys, cache, argv, message):
    rc, out, err = cli(capsys, *argv, "--cache-dir", cache)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_plan_and_scheme_are_exclusive(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["finetune", "digits", "--plan", "x.json", "--scheme", "fixed:4"])
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
