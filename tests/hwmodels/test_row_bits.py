"""Per-row (per-filter) weight widths: the plan format, the metrics and every model's pricing."""

from __future__ import annotations

import json

import pytest

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Workload, get_model
from hwmodels.arith import row_bit_folds, split_row_groups
from hwmodels.metrics import avg_weight_bits, mac_bits, metrics, term_pairs

IDEAL = {"dram_bandwidth_bytes_per_s": 1e13}
G = LayerSpec.gemm("g", M=64, K=64, N=32)
W = Workload.chain("w", [G])
ROWS = (8,) * 10 + (6,) * 12 + (4,) * 10  # 32 filters


def point(scheme, **knobs):
    return DesignPoint.make({"g": scheme}, {**IDEAL, **knobs})


# --- the format ---------------------------------------------------------------------------

def test_row_bits_validation_names_the_field():
    s = QuantScheme("fixed", 8, 8, row_bits=[2, 8, 5])
    assert s.row_bits == (2, 8, 5) and isinstance(s.row_bits, tuple) and hash(s)
    assert s.mean_row_bits == 5.0 and QuantScheme("fixed", 6).mean_row_bits == 6.0
    with pytest.raises(ValueError, match="^w_bits: must equal max\\(row_bits\\) = 8"):
        QuantScheme("fixed", 6, 8, row_bits=(2, 8))
    with pytest.raises(ValueError, match="^row_bits: per-row widths are only meaningful for kind 'fixed'"):
        QuantScheme("sp2", 4, 4, row_bits=(4, 4))
    with pytest.raises(ValueError, match="^row_bits\\[1\\]: must be in \\[2, 16\\], got 1"):
        QuantScheme("fixed", 4, 8, row_bits=(4, 1))
    with pytest.raises(ValueError, match="^row_bits\\[0\\]: must be an integer"):
        QuantScheme("fixed", 4, 8, row_bits=(4.5,))
    with pytest.raises(ValueError, match="^row_bits: must not be empty"):
        QuantScheme("fixed", 4, 8, row_bits=())
    with pytest.raises(ValueError, match="^granularity: per-row widths"):
        QuantScheme("fixed", 4, 8, "per_tensor", row_bits=(4, 2))
    assert QuantScheme.with_row_bits([3, 5], a_bits=4) == QuantScheme("fixed", 5, 4, row_bits=(3, 5))


def test_plan_json_round_trip():
    s = QuantScheme.with_row_bits(ROWS, 8)
    d = s.to_dict()
    assert d["row_bits"] == list(ROWS)
    assert "row_bits" not in QuantScheme("fixed", 4).to_dict()
    p = DesignPoint.make({"g": s, "h": QuantScheme("fixed", 4)}, {"rows": 8})
    back = DesignPoint.from_dict(json.loads(p.to_json()))
    assert back == p and back.scheme_for("g").row_bits == ROWS
    with pytest.raises(ValueError, match="^plan.layers.g.w_bits: must equal max"):
        DesignPoint.from_dict({"layers": {"g": {"kind": "fixed", "w_bits": 4, "row_bits": [8, 2]}}})


# --- metrics ---------------------------------------------------------------------------------

def test_metrics_count_each_row_at_its_width():
    s = QuantScheme.with_row_bits(ROWS, 8)
    bits = sum(ROWS)  # 80 + 72 + 40 = 192
    assert bits == 192
    p = point(s)
    assert mac_bits(W, p) == 64 * 64 * bits                      # M x K MACs per row x its bits
    assert avg_weight_bits(W, p) == 64 * bits / (64 * 32) == 6.0  # K weights per row
    assert metrics(W, p).weight_bits == 64 * bits
    # term-serial terms: w - 1 magnitude bits per row, 8 terms per 8-bit unsigned activation
    # (was 7: activations were priced signed, issue 11 problem 6)
    assert term_pairs(W, p) == 64 * 64 * (bits - 32) * 8
    uniform = point(QuantScheme("fixed", 6, 8))
    assert mac_bits(W, uniform) == mac_bits(W, p)  # same mean width -> same MACs x bits


def test_length_mismatch_is_a_value_error_naming_the_layer():
    bad = point(QuantScheme.with_row_bits((4,) * 31, 8))
    with pytest.raises(ValueError, match="row_bits: layer 'g' has 32 output channels but its scheme gives 31"):
        mac_bits(W, bad)
    for name in ("systolic", "hetero", "bitserial", "termserial"):
        with pytest.raises(ValueError, match="layer 'g'"):
            get_model(name).evaluate(W, bad)


# --- pricing -----------------------------------------------------------------------------------

def test_bitserial_sorts_filters_into_folds_by_width():
    m = get_model("bitserial")
    rep = m.evaluate(W, point(QuantScheme.with_row_bits(ROWS, 8)))
    # 16 columns: fold 1 = 10 x 8-bit + 6 x 6-bit rows (8 bits), fold 2 = 6 x 6 + 10 x 4 (6 bits);
    # 64 / 16 = 4 row folds; os: 4 * sum_j (K * b_j + R + C - 2) - 1
    assert rep.layers[0].cycles == 4 * ((64 * 8 + 30) + (64 * 6 + 30)) - 1
    assert rep.mac_bits == mac_bits(W, point(QuantScheme.with_row_bits(ROWS, 8)))
    widest = m.evaluate(W, point(QuantScheme("fixed", 8, 8))).layers[0].cycles
    assert widest == 4 * 2 * (64 * 8 + 30) - 1 > rep.layers[0].cycles
    # any order of the same widths costs the same
    shuffled = ROWS[::2] + ROWS[1::2]
    assert m.evaluate(W, point(QuantScheme.with_row_bits(shuffled, 8))).layers[0].cycles == rep.layers[0].cycles


def test_row_bit_folds_minimise_the_sum_of_fold_widths():
    s = QuantScheme.with_row_bits((2, 8, 3, 8, 5, 2, 2, 4), 8)
    parts = row_bit_folds(s, 8, 3)  # sorted 8 8 5 | 4 3 2 | 2 2 -> widths 8, 4, 2
    assert [(n, p.w_bits) for n, p in parts] == [(3, 8), (3, 4), (2, 2)]
    same = row_bit_folds(QuantScheme.with_row_bits((4,) * 7 + (3,), 8), 8, 2)  # 4 4|4 4|4 4|4 3 -> one part
    assert [(n, p.w_bits) for n, p in same] == [(8, 4)]
    with pytest.raises(ValueError, match="groups hold different widths"):
        row_bit_folds(QuantScheme.with_row_bits((2, 4, 4, 4), 8), 2, 16)


def test_bitserial_latency_follows_per_filter_mac_bits():
    # two layers, mean width 5 either way: one uniform, one split 8/2 within the layer
    net = Workload.chain("n", [LayerSpec.conv("a", 34, 34, 3, 3, 64, 64), LayerSpec.conv("b", 34, 34, 3, 3, 64, 64)])
    m = get_model("bitserial", **IDEAL)
    mixed = DesignPoint.make({"a": QuantScheme.with_row_bits((8,) * 32 + (2,) * 32, 8),
                              "b": QuantScheme("fixed", 5, 8)})
    flat = DesignPoint.make({"a": QuantScheme("fixed", 5, 8), "b": QuantScheme("fixed", 5, 8)})
    assert mac_bits(net, mixed) == mac_bits(net, flat)
    c1, c2 = m.evaluate(net, mixed).cycles, m.evaluate(net, flat).cycles
    assert abs(c1 - c2) / c2 < 0.01


def test_termserial_rows_take_their_own_terms():
    m = get_model("termserial")
    s = QuantScheme.with_row_bits((8,) * 16 + (4,) * 16, 8)
    rep = m.evaluate(W, point(s))
    # fold 1: 7 terms x 8 activation terms per MAC, fold 2: 3 x 8 (unsigned 8-bit activations;
    # was x 7, issue 11 problem 6)
    assert rep.layers[0].cycles == 4 * ((64 * 56 + 30) + (64 * 24 + 30)) - 1
    assert rep.term_pairs == term_pairs(W, point(s))


@pytest.mark.parametrize("name,knobs", [("systolic", {}), ("systolic", {"pe_arith": "lut"}), ("hetero", {})])
def test_parallel_arrays_price_the_widest_row(name, knobs):
    m = get_model(name)
    rows = m.evaluate(W, point(QuantScheme.with_row_bits(ROWS, 8), **knobs))
    widest = m.evaluate(W, point(QuantScheme("fixed", 8, 8), **knobs))
    assert rows.cycles == widest.cycles
    assert rows.energy_j == widest.energy_j
    assert rows.resources == widest.resources
    assert rows.mac_bits == 64 * 64 * sum(ROWS) < widest.mac_bits  # the metric still counts each row


def test_grouped_layer_with_different_widths_per_group():
    dw = LayerSpec.conv("dw", 16, 16, 3, 3, 16, 16, padding=1, groups=16)  # depth-wise: one row per group
    net = Workload.chain("d", [dw])
    widths = (2, 3, 4, 8) * 4
    s = QuantScheme.with_row_bits(widths, 8)
    pieces = split_row_groups(dw, s)
    assert sorted((p[0].groups, p[1].row_bits[0]) for p in pieces) == [(4, 2), (4, 3), (4, 4), (4, 8)]
    assert sum(p[0].macs for p in pieces) == dw.macs
    m = get_model("bitserial", **IDEAL)
    rep = m.evaluate(net, DesignPoint.make({"dw": s}))
    # each group: M = 256 output pixels on 16 rows, K = 9, one filter: 16 x (9 b + 30) - 1
    assert rep.layers[0].cycles == sum(16 * (9 * b + 30) - 1 for b in widths)
    assert rep.mac_bits == 256 * 9 * sum(widths)
    assert rep.layers[0].macs == dw.macs
