"""The lane calibration table: provenance required, lookups exact or flagged as fits."""

from __future__ import annotations

import json

import pytest

from hwmodels.arith import lane_cost, lane_module_price, lane_structure
from hwmodels.calibration import (FORMAT, CalibrationError, clear_cache, lane_price, load_table,
                                  parse_table, table_path)
from hwmodels.rtl.calibrate import calibration_grid


def _row(**over):
    r = {"unit": "lut", "kind": "fixed", "w_bits": 4, "a_bits": 4, "acc_bits": 20, "lut": 60, "ff": 28,
         "dsp": 0, "lanes_per_dsp": 0, "tool": "Yosys 0.23", "command": "synth_xilinx -family xc7",
         "rtl_sha256": "ab" * 32}
    r.update(over)
    return r


def test_loader_rejects_a_table_without_provenance():
    good = {"format": FORMAT, "family": "xc7", "rows": [_row()]}
    assert parse_table(good).rows[0].lut == 60
    for field in ("tool", "command", "rtl_sha256"):
        bad = {"format": FORMAT, "family": "xc7", "rows": [_row(), _row(**{field: ""})]}
        with pytest.raises(CalibrationError, match=f"row 1 .*no provenance: missing {field}"):
            parse_table(bad)
        row = _row()
        del row[field]
        with pytest.raises(CalibrationError, match="no provenance"):
            parse_table({"format": FORMAT, "family": "xc7", "rows": [row]})
    with pytest.raises(CalibrationError, match="not a lane calibration table"):
        parse_table({"family": "xc7", "rows": [_row()]})
    with pytest.raises(CalibrationError, match="family must be one of xc7, xcup"):
        parse_table({"format": FORMAT, "family": "xc9", "rows": [_row()]})


def test_user_table_replaces_the_shipped_one(tmp_path, monkeypatch):
    """A user with another synthesizer supplies their own table; a table without
    provenance is refused at load time, not silently used."""
    rows = [_row(acc_bits=20, lut=10), _row(acc_bits=28, lut=18)]
    (tmp_path / "lanes_xc7.json").write_text(json.dumps({"format": FORMAT, "family": "xc7", "rows": rows}))
    monkeypatch.setenv("DSE_LANE_TABLES", str(tmp_path))
    clear_cache()
    try:
        assert table_path("xc7") == str(tmp_path / "lanes_xc7.json")
        f = lambda w, a, acc, fam: lane_structure("lut", "fixed", w, a, acc, fam)
        exact = lane_price("xc7", "lut", "fixed", 4, 4, 20, f)
        assert (exact.lut, exact.fit) == (10, False) and "w4 a4 acc20" in exact.source
        moved = lane_price("xc7", "lut", "fixed", 4, 4, 24, f)   # 1 LUT per accumulator bit measured
        assert moved.lut == pytest.approx(14) and "accumulator moved to 24 bits" in moved.source
        fit = lane_price("xc7", "lut", "fixed", 6, 6, 20, f)
        assert fit.fit and fit.source.startswith("fit:")
        assert fit.lut == pytest.approx(f(6, 6, 20, "xc7")[0] * 10 / f(4, 4, 20, "xc7")[0])
        (tmp_path / "lanes_xc7.json").write_text(json.dumps(
            {"format": FORMAT, "family": "xc7", "rows": [_row(tool=" ")]}))
        clear_cache()
        with pytest.raises(CalibrationError, match="no provenance"):
            load_table("xc7")
    finally:
        monkeypatch.delenv("DSE_LANE_TABLES")
        clear_cache()


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_shipped_table_covers_the_grid_with_provenance(family):
    table = load_table(family)
    have = {(r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits) for r in table.rows}
    want = {(c.unit, c.kind, c.w_bits, c.a_bits, c.acc_bits) for c in calibration_grid(family)}
    assert want <= have
    assert all(r.tool.startswith("Yosys") and f"-family {family}" in r.command and len(r.rtl_sha256) == 64
               for r in table.rows)
    # Vivado/FINN figures kept beside the Yosys ones for DSP lanes
    assert any(dict(r.published).get("source", "").startswith("FINN") for r in table.rows if r.unit == "dsp")


def test_grid_rows_are_read_back_exactly():
    for r in load_table("xc7").rows[:20]:
        p = lane_module_price("xc7", r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits)
        assert (p.lut, p.ff, p.fit) == (r.lut, r.ff, False)


def test_lane_cost_is_per_lane_for_packed_dsps():
    m = lane_module_price("xc7", "dsp", "fixed", 8, 8, 28)
    one = lane_cost("dsp", "fixed", 8, 8, 28, "DSP48E1")
    assert m.lanes_per_dsp == one.lanes_per_dsp == 2
    assert one.lut == pytest.approx(m.lut / 2) and one.dsp == 0.5


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_dsp_rows_record_the_lane_in_an_array(family):
    """Every DSP row also holds the lane as an array instantiates it (its forwarded operands
    in the next slice's input registers), with the hash of exactly that wrapper's Verilog."""
    from hwmodels.rtl.lanes import LaneConfig, in_array
    from hwmodels.rtl.synth import rtl_sha256
    rows = [r for r in load_table(family).rows if r.unit == "dsp"]
    assert len(rows) == 19
    for r in rows:
        text, top = in_array(LaneConfig(r.unit, r.kind, r.w_bits, r.a_bits, r.acc_bits, family))
        assert (r.array_top, r.array_rtl_sha256) == (top, rtl_sha256(text))
        assert r.array_lut == r.lut and r.array_ff <= r.ff
    by = {(r.w_bits, r.a_bits, r.acc_bits): r for r in rows}
    if family == "xc7":   # DSP48E1: the 25-bit packed weight + 8-bit activation leave the fabric
        assert (by[8, 8, 28].ff, by[8, 8, 28].array_ff) == (90, 57)
        assert (by[16, 16, 44].ff, by[16, 16, 44].array_ff) == (33, 1)
    else:                 # DSP48E2: Yosys 0.23 keeps every register in fabric
        assert all(r.array_ff == r.ff for r in rows)


def test_array_counts_need_provenance_and_are_priced_in_context():
    arr = {"lut": 5, "ff": 7, "top": "x_in_array", "rtl_sha256": "cd" * 32}
    t = parse_table({"format": FORMAT, "family": "xc7", "rows": [_row(unit="dsp", array=arr)]})
    assert (t.rows[0].counts("module"), t.rows[0].counts("array")) == ((60, 28), (5, 7))
    assert t.to_dict()["rows"][0]["array"] == {"lut": 5.0, "ff": 7.0, "top": "x_in_array", "rtl_sha256": "cd" * 32}
    with pytest.raises(CalibrationError, match='"array" must be an object .* provenance'):
        parse_table({"format": FORMAT, "family": "xc7", "rows": [_row(array={"lut": 5, "ff": 7})]})
    a = lane_module_price("xc7", "dsp", "fixed", 8, 8, 28, "array")
    assert (a.ff, a.fit) == (57, False) and a.source.endswith("in an array")
    with pytest.raises(ValueError, match="context"):
        lane_price("xc7", "dsp", "fixed", 8, 8, 28, lambda *x: (1.0, 1.0), context="fabric")


@pytest.mark.slow
def test_in_array_row_is_reproduced_by_synthesis():
    from hwmodels.rtl.calibrate import synth_lane_in_array
    from hwmodels.rtl.lanes import LaneConfig
    res = synth_lane_in_array(LaneConfig("dsp", "fixed", 8, 8, 28, "xc7"))
    row = next(r for r in load_table("xc7").rows if r.key == ("dsp", "fixed", 8, 8) and r.acc_bits == 28)
    assert (res.lut, res.ff, res.dsp, res.rtl_sha256) == (row.array_lut, row.array_ff, 1, row.array_rtl_sha256)
