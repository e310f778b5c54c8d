"""Off-chip traffic: only the input pixels a layer uses, weights at their stored width,
DRAM at its sustained bandwidth (issue 11, problems 7 and 8)."""

from __future__ import annotations

import pytest

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Workload, get_model
from hwmodels.traffic import ifmap_elems_read, term_code_bits, used_extent, weight_storage_bits

IDEAL = {"dram_bandwidth_bytes_per_s": 1e13}


def one(layer: LayerSpec) -> Workload:
    return Workload.chain("w", [layer])


def test_stride2_1x1_conv_reads_a_quarter_of_its_input():
    """ResNet's downsample shortcut: a 1x1 conv at stride 2 touches every other row and
    column. Before the fix it was charged its whole 56x56 map (4x the pixels it reads:
    309,248 B in all). ZigZag 3.9.1 moves the same 158,720 B for this layer on the matched
    accelerator (benchmarks/bench_zigzag.py, docs/hardware-models.md section 12)."""
    d = LayerSpec.conv("down", 56, 56, 1, 1, 64, 128, stride=2)
    assert (d.out_h, d.out_w) == (28, 28)
    assert ifmap_elems_read(d) == 28 * 28 * 64 == d.input_elems // 4
    c = get_model("systolic").evaluate(one(d), DesignPoint.make(knobs=IDEAL)).layers[0]
    # 8-bit: ifmap 50,176 B (> its 32 KiB half-buffer), weights 8,192 B (fit), outputs 100,352 B
    assert c.bytes_offchip == 28 * 28 * 64 + 64 * 128 + 28 * 28 * 128


def test_used_extent_overlapping_and_disjoint_windows():
    assert used_extent(out=28, stride=2, filt=3, size=58) == 57    # 3x3/2, pad 1: overlapping
    assert used_extent(out=28, stride=2, filt=1, size=56) == 28    # 1x1/2: every other row
    assert used_extent(out=28, stride=2, filt=2, size=56) == 56    # 2x2/2: tiles the map
    assert used_extent(out=56, stride=1, filt=3, size=58) == 58    # stride 1: all of it
    assert used_extent(out=3, stride=4, filt=2, size=12) == 6


def test_batch_and_linear_layers():
    b2 = LayerSpec.conv("c", 16, 16, 1, 1, 8, 8, stride=2, batch=2)
    assert ifmap_elems_read(b2) == 2 * 8 * 8 * 8
    lin = LayerSpec.linear("fc", 512, 10, batch=4)
    assert ifmap_elems_read(lin) == 4 * 512


def test_strided_memory_bound_layer_is_faster_than_before():
    """At a slow interface the downsample layer is memory-bound: its latency now follows
    the bytes it reads, while its compute cycles (the fold count) are unchanged."""
    d = LayerSpec.conv("down", 56, 56, 1, 1, 64, 128, stride=2)
    s1 = LayerSpec.conv("same", 56, 56, 1, 1, 64, 128, stride=1)
    knobs = {"dram_bandwidth_bytes_per_s": 1e8, "dram_efficiency": 1.0}  # 0.5 B/cycle at 200 MHz
    m = get_model("systolic")
    cd = m.evaluate(one(d), DesignPoint.make(knobs=knobs)).layers[0]
    assert cd.memory_cycles == pytest.approx(cd.bytes_offchip / 0.5)
    assert cd.memory_cycles > cd.compute_cycles
    # os 16x16: ceil(784/16) x ceil(128/16) folds; 8x8-bit DSP PEs pack 2 per slice (8 PE columns)
    assert cd.compute_cycles == 49 * 8 * (64 + 16 + 8 - 2) - 1
    cs = m.evaluate(one(s1), DesignPoint.make(knobs=knobs)).layers[0]
    assert cs.bytes_offchip - cd.bytes_offchip == pytest.approx((56 * 56 - 28 * 28) * (64 + 128))


def test_term_weights_fetched_at_encoded_width():
    """A term scheme keeping k terms per group of g weights stores k records of
    (term index into g x P positions + null code, sign); never wider than w_bits."""
    # 8-bit binary: P = 7 positions; g = 1, k = 1: ceil(log2 8) + 1 = 4 bits
    assert term_code_bits(8, 1, 1) == 4
    # g = 8, k = 4: index over 56 positions + null -> 6 bits, + sign = 7; 4 x 7 / 8 = 3.5
    assert term_code_bits(8, 8, 4) == 3.5
    # csd may use w_bits positions: g = 4, k = 4: log2(33) -> 6, + 1 = 7 bits per term
    assert term_code_bits(8, 4, 4, "csd") == 7
    loose = QuantScheme("term", 8, 8, term_budget=12, group_size=8)
    assert weight_storage_bits(loose) == 8.0           # 10.5 bits of records: store the word
    tight = QuantScheme("term", 8, 8, term_budget=4, group_size=8)
    assert weight_storage_bits(tight) == 3.5
    assert weight_storage_bits(QuantScheme("sp2", 4, 4)) == 4.0

    g = LayerSpec.gemm("g", 16, 512, 64)                # weights 32,768: dominate the traffic
    m = get_model("systolic")
    fixed = m.evaluate(one(g), DesignPoint.make(knobs=IDEAL, default_scheme=QuantScheme("fixed", 8, 8)))
    term = m.evaluate(one(g), DesignPoint.make(knobs=IDEAL, default_scheme=tight))
    w_fixed = 512 * 64
    assert fixed.layers[0].bytes_offchip - term.layers[0].bytes_offchip == pytest.approx(w_fixed * (1 - 3.5 / 8))


@pytest.mark.parametrize("model", ["systolic", "hetero", "bitserial", "termserial"])
def test_every_array_model_uses_the_fixed_traffic(model):
    d = LayerSpec.conv("down", 56, 56, 1, 1, 64, 128, stride=2)
    c = get_model(model).evaluate(one(d), DesignPoint.make(knobs=IDEAL)).layers[0]
    assert c.bytes_offchip == 28 * 28 * 64 + 64 * 128 + 28 * 28 * 128
