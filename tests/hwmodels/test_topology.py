"""SCALE-Sim topology CSVs: SCALE-Sim's conventions, round trips, errors with file/line/field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwmodels import LayerSpec, Workload, read_topology, write_topology
from hwmodels.topology import scalesim_ofmap

DATA = Path(__file__).parent / "data" / "scalesim_reference.json"
CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def write(tmp_path: Path, text: str, name: str = "topo.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_conv_row_uses_scalesim_ceil_convention(tmp_path):
    # 16x16 input, 1x1 filter, stride 2: SCALE-Sim gives ceil((16-1+2)/2) = 9 per side,
    # so M = 81 (torch's floor((16-1)/2)+1 = 8 would give 64); K = 1*1*32, N = 40
    p = write(tmp_path, CONV_HEAD + "res_1x1_s2, 16, 16, 1, 1, 32, 40, 2,\n"
                                   "Conv1, 224, 224, 7, 7, 3, 64, 2,\n")
    w = read_topology(p)
    a, b = w.layers
    assert (a.M, a.K, a.N, a.out_h, a.out_w) == (81, 32, 40, 9, 9)
    # 224 input, 7x7/2, no padding: ceil((224-7+2)/2) = ceil(109.5) = 110 -> M = 12100, K = 147
    assert (b.M, b.K, b.N, b.out_h) == (12100, 147, 64, 110)
    assert w.name == "topo" and w.layer_names == ("res_1x1_s2", "Conv1")
    assert b.macs == 12100 * 147 * 64


def test_ofmap_formula():
    assert scalesim_ofmap(16, 1, 2) == 9
    assert scalesim_ofmap(15, 3, 2) == 7   # (15-3+2)/2 = 7 exactly
    assert scalesim_ofmap(31, 11, 4) == 6  # ceil(24/4) = 6


def test_depthwise_dp_row_is_one_grouped_layer(tmp_path):
    # SCALE-Sim runs 'DP' layers as `channels` layers of 1 channel and Num Filter filters:
    # here 16 GEMMs of M = 12*12 = 144, K = 3*3 = 9, N = 2
    p = write(tmp_path, CONV_HEAD + "Conv2_DP, 14, 14, 3, 3, 16, 2, 1,\n")
    (layer,) = read_topology(p).layers
    assert (layer.groups, layer.M, layer.K, layer.N, layer.n_per_group) == (16, 144, 9, 32, 2)
    assert layer.macs == 16 * 144 * 9 * 2


def test_gemm_format_maps_m_n_k(tmp_path):
    p = write(tmp_path, "Layer, M, N, K,\nfc1, 100, 40, 70,\nproj, 33, 17, 129,\n")
    a, b = read_topology(p).layers
    assert (a.M, a.N, a.K, a.kind) == (100, 40, 70, "gemm")  # A is M x K, B is K x N
    assert (b.M, b.N, b.K) == (33, 17, 129)


def test_trailing_comma_optional_blank_lines_and_dense_sparsity(tmp_path):
    p = write(tmp_path, CONV_HEAD + "\na, 8, 8, 3, 3, 4, 4, 1\n\nb, 8, 8, 3, 3, 4, 4, 1, 1:1,\n")
    assert [l.M for l in read_topology(p).layers] == [36, 36]


@pytest.mark.parametrize("row, fragment", [
    ("c, 8, 8, x, 3, 4, 4, 1,", ":2: field 'Filter Height' (column 4): expected a positive integer, got 'x'"),
    ("c, 8, 8, 3, 3, 0, 4, 1,", ":2: field 'Channels' (column 6): expected a positive integer, got 0"),
    ("c, 8, 4, 3, 5, 4, 4, 1,", ":2: field 'Filter Width' (column 5): filter width 5 is larger than IFMAP width 4"),
    ("c, 8, 8, 3, 3, 4, 4,", ":2: expected 8 fields"),
    ("c, 8, 8, 3, 3, 4, 4, 1, 2:4,", ":2: field 'sparsity' (column 9): sparse layers (2:4) are not supported"),
    ("c, 8, 8, 3, 3, 4, 4, 1, half,", ":2: field 'sparsity' (column 9): expected a ratio N:M"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, row, fragment):
    p = write(tmp_path, CONV_HEAD + row + "\n")
    with pytest.raises(ValueError) as e:
        read_topology(p)
    assert str(e.value).startswith(str(p)) and fragment in str(e.value)


def test_bad_gemm_and_file_level_errors(tmp_path):
    p = write(tmp_path, "Layer, M, N, K,\nfc, 10, -3, 4,\n")
    with pytest.raises(ValueError, match=r":2: field 'N' \(column 3\): expected a positive integer, got -3"):
        read_topology(p)
    dup = write(tmp_path, CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\na, 8, 8, 3, 3, 4, 4, 1,\n", "dup.csv")
    with pytest.raises(ValueError, match=r"dup.csv:3: field 'Layer name' .*duplicate layer name 'a' \(first on line 2\)"):
        read_topology(dup)
    with pytest.raises(ValueError, match="must be a header"):
        read_topology(write(tmp_path, "a, 8, 8, 3, 3, 4, 4, 1,\n", "nohead.csv"))
    with pytest.raises(ValueError, match="no layers after the header"):
        read_topology(write(tmp_path, CONV_HEAD, "empty.csv"))
    with pytest.raises(ValueError, match="header has 3 fields"):
        read_topology(write(tmp_path, "a, b, c,\n1, 2, 3,\n", "odd.csv"))
    with pytest.raises(ValueError, match="cannot read topology file"):
        read_topology(tmp_path / "missing.csv")


def test_write_then_read_reproduces_gemms(tmp_path):
    # torch-style padded convs: 224+2*3 = 230 padded input, (230-7)//2+1 = 112. Written as the
    # 229-row extent the layer reads ((112-1)*2+7), SCALE-Sim's ceil gives 112 back
    layers = [
        LayerSpec.conv("stem", 224, 224, 7, 7, 3, 64, stride=2, padding=3),
        LayerSpec.conv("down", 56, 56, 1, 1, 64, 128, stride=2),
        LayerSpec.conv("mid_DP", 28, 28, 3, 3, 32, 32, padding=1, groups=32),
        LayerSpec.conv("grouped", 14, 14, 3, 3, 32, 64, padding=1, groups=4),
        LayerSpec.linear("fc", 512, 10),
    ]
    w = Workload.chain("net", layers)
    back = read_topology(write_topology(w, tmp_path / "net.csv"))
    got = {l.name: l for l in back.layers}
    assert (got["stem"].M, got["stem"].K, got["stem"].N) == (112 * 112, 147, 64)
    assert (got["down"].M, got["down"].K, got["down"].N) == (28 * 28, 64, 128)
    assert (got["mid_DP"].groups, got["mid_DP"].M, got["mid_DP"].K, got["mid_DP"].N) == (32, 784, 9, 32)
    assert [n for n in got if n.startswith("grouped/")] == [f"grouped/g{i}" for i in range(4)]
    assert (got["grouped/g0"].M, got["grouped/g0"].K, got["grouped/g0"].N) == (196, 72, 16)
    assert (got["fc"].M, got["fc"].K, got["fc"].N) == (1, 512, 10)
    assert back.macs == w.macs
    g = read_topology(write_topology(w, tmp_path / "net_gemm.csv", fmt="gemm"))
    assert g.macs == w.macs and g.layers[0].M == 112 * 112


def test_reference_geometries_read_like_scalesim(tmp_path):
    """Every layer SCALE-Sim 3.0.0 ran for the reference data gets the same M, K, N here."""
    recs = json.loads(DATA.read_text())["records"]
    conv = {r["layer"]: r for r in recs if r["format"] == "conv"}
    gemm = {r["layer"]: r for r in recs if r["format"] == "gemm"}
    text = CONV_HEAD + "".join(
        f"{n}, {r['ifmap_h']}, {r['ifmap_w']}, {r['filt_h']}, {r['filt_w']}, {r['channels']}, "
        f"{r['num_filters']}, {r['stride']},\n" for n, r in conv.items())
    for layer in read_topology(write(tmp_path, text)).layers:
        r = conv[layer.name]
        assert (layer.M, layer.K, layer.N) == (r["gemm_M"], r["gemm_K"], r["gemm_N"])
        assert (layer.out_h, layer.out_w) == (r["ofmap_h"], r["ofmap_w"])
    text = "Layer, M, N, K,\n" + "".join(f"{n}, {r['M']}, {r['N']}, {r['K']},\n" for n, r in gemm.items())
    for layer in read_topology(write(tmp_path, text, "g.csv")).layers:
        r = gemm[layer.name]
        assert (layer.M, layer.K, layer.N) == (r["gemm_M"], r["gemm_K"], r["gemm_N"])
