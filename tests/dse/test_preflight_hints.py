"""The pre-flight a search runs works out its hints only where it prints them (a dry run, or a
space it refuses), so a search that goes on does not re-price its sample on every other device
(issue 16, start-up); what it prints is what :func:`preflight.estimate` says, as before."""

from __future__ import annotations

import io
import re
import tomllib

import pytest

from conftest import hw_only_toml  # tests/conftest.py: the hardware-only study TOML
from dse import preflight
from dse.config import parse_config
from dse.errors import UserError
from dse.study import resolve
from dse.study.cost import cost


#: two conv layers (SCALE-Sim topology): priced without torch
TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 34, 34, 3, 3, 3, 16, 1,
conv2, 34, 34, 3, 3, 16, 32, 2,
"""


def _resolved(tmp_path, rng: str):
    (tmp_path / "net.csv").write_text(TOPOLOGY)
    text = hw_only_toml("hints", str(tmp_path / "net.csv"), trials=5, device="XC7Z010",
                        hardware=f'search = ["rows", "cols"]\nranges = {{rows = {rng}, cols = {rng}}}\n')
    raw = tomllib.loads(text)
    return resolve(parse_config(raw)), raw


def test_a_search_that_goes_on_prices_no_hints(tmp_path, monkeypatch):
    r, raw = _resolved(tmp_path, "[4, 64]")  # about 27% feasible, the DSP slices bind: hints would re-price the sample
    pf = preflight.estimate(r)
    assert preflight.LOW_FEASIBLE < pf.share < 1 and pf.binding.startswith("fits_device") and pf.hints

    def no_hints(*a, **k):
        raise AssertionError("hints priced for a search that goes on")

    for name in ("_device_hints", "_range_hints", "_cap_hints"):
        monkeypatch.setattr(preflight, name, no_hints)
    err = io.StringIO()
    assert preflight.run(r, raw, err=err) is False
    assert err.getvalue() == f"pre-flight: {pf.summary()}\n"


def test_the_gate_and_the_dry_run_still_give_the_hints(tmp_path):
    r, raw = _resolved(tmp_path, "[16, 256]")  # nothing fits
    pf = preflight.estimate(r)
    assert pf.share < preflight.LOW_FEASIBLE and pf.hints
    with pytest.raises(UserError) as e:
        preflight.run(r, raw)
    with pytest.raises(UserError) as expected:
        preflight.gate(pf)
    assert str(e.value) == str(expected.value) and f"try {pf.hints[0]}" in str(e.value)
    err = io.StringIO()
    assert preflight.run(r, raw, force=True, err=err) is False
    assert err.getvalue() == f"pre-flight: {pf.summary()} (--force: searching anyway)\n"

    r, raw = _resolved(tmp_path, "[4, 64]")
    pf = preflight.estimate(r)
    out = io.StringIO()
    assert preflight.run(r, raw, dry_run=True, out=out) is True
    # the cost part holds timings measured on each call (e.g. "sampler 0.50 s"): compare the rest
    seconds = re.compile(r"\d+(?:\.\d+)? (?:s|ms|us|min|h)\b")
    assert seconds.sub("N s", out.getvalue()) == seconds.sub("N s", preflight.dry_run_text(r, pf, cost(r, pf)) + "\n")
    assert "would help: " in out.getvalue()
