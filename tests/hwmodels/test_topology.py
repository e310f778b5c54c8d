"""SCALE-Sim topology CSVs: SCALE-Sim's conventions, round trips, errors with file/line/field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwmodels import LayerSpec, Workload, read_topology, write_topology
from hwmodels.topology import load_topology, scalesim_ofmap

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


# --- SCALE-Sim's own files, as SCALE-Sim 3.x reads them -------------------------------------

SCALESIM = Path(__file__).parent / "data" / "scalesim"  # copies with attribution: README.md there


def scalesim_layers(path: Path, gemm: bool) -> list[list]:
    """SCALE-Sim 3.x's reader, transcribed from scalesim/topology_utils.py (scale-sim-v3
    fab89b7, MIT): load_arrays_conv / load_arrays_gemm + append_topo_arrays. Each entry:
    name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride h, stride w, N, M."""
    out, first = [], True
    for row in path.read_text().splitlines():
        row = row.strip()
        if first or row == "":
            first = False
            continue
        elems = row.split(",")[:-1]
        if gemm:
            assert len(elems) > 3
            if len(elems) < 5:
                elems.append("1:1")
            sr = elems[4].strip().split(":")
            m, n, k = (e.strip() for e in elems[1:4])
            entries = [[elems[0].strip(), m, k, 1, k, 1, n, 1, 1, sr[0], sr[1]]]
        else:
            elems = elems[0:8] + [elems[7]] + elems[8:]
            if len(elems) < 10:
                elems.append("1:1")
            sr = elems.pop().strip().split(":")
            elems += [sr[0], sr[1]]
            if "DP" in elems[0].strip():
                entries = [[elems[0].strip() + f"Channel_{c}", *elems[1:5], "1", *elems[6:]]
                           for c in range(int(elems[5].strip()))]
            else:
                entries = [[elems[0].strip(), *elems[1:]]]
        for e in entries:
            entry = [e[0]] + [int(str(x).strip()) for x in e[1:]]
            assert entry[3] <= entry[1] and entry[4] <= entry[2]
            out.append(entry)
    return out


def scalesim_macs(entry: list) -> int:
    _, ih, iw, fh, fw, ch, nf, sh, sw = entry[:9]
    return scalesim_ofmap(ih, fh, sh) * scalesim_ofmap(iw, fw, sw) * fh * fw * ch * nf


@pytest.mark.parametrize("name, gemm, layers", [
    ("alexnet.csv", False, 5),
    ("mobilnet_paper.csv", False, 28),           # '#dw' notes after the last comma
    ("DeepBench_DenseMatrixMultiplication.csv", False, 84),  # 6 names repeated
    ("vit_s.csv", True, 5),                      # GEMM (M, N, K)
])
def test_scalesim_files_read_as_scalesim_reads_them(name, gemm, layers):
    path = SCALESIM / name
    ref = scalesim_layers(path, gemm)
    topo = load_topology(path)
    w = topo.workload
    assert topo.fmt == ("gemm" if gemm else "conv")
    assert len(w.layers) == len(ref) == layers
    for ours, theirs in zip(w.layers, ref):  # no DP rows in these files: one row, one layer
        assert ours.macs == scalesim_macs(theirs), ours.name
        assert ours.name.startswith(theirs[0])
    assert len(set(w.layer_names)) == len(w.layers)


def test_repeated_names_renamed_in_file_order():
    topo = load_topology(SCALESIM / "DeepBench_DenseMatrixMultiplication.csv")
    assert [str(r) for r in topo.renamed[:2]] == [
        "line 56: layer 'DeepSpeech_1' repeats line 10; renamed 'DeepSpeech_1_2'",
        "line 57: layer 'DeepSpeech_2' repeats line 11; renamed 'DeepSpeech_2_2'"]
    assert len(topo.renamed) == 6
    names = topo.workload.layer_names
    assert names.index("DeepSpeech_1") < names.index("DeepSpeech_1_2")


def test_renaming_avoids_names_already_in_the_file(tmp_path):
    p = write(tmp_path, CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\na_2, 8, 8, 3, 3, 4, 4, 1,\n"
                                    "a, 8, 8, 3, 3, 4, 4, 1,\na, 8, 8, 3, 3, 4, 4, 1,\n")
    topo = load_topology(p)
    assert topo.workload.layer_names == ("a", "a_2", "a_3", "a_4")
    assert [(r.line, r.new_name, r.first_line) for r in topo.renamed] == [(4, "a_3", 2), (5, "a_4", 2)]


def test_annotations_empty_cells_stride_width_and_batch_columns(tmp_path):
    topo = load_topology(SCALESIM / "mobilnet_paper.csv")
    assert topo.annotations[0] == (4, "#dw") and len(topo.annotations) == 8
    dw = topo.workload.layer("Conv2_dw")  # SCALE-Sim prices what the row says: 1 channel, 1 filter
    assert (dw.K, dw.N, dw.groups) == (9, 1, 1)
    # spreadsheet-style empty cells, a note before them, SCALE-Sim's writer's 9-column rows
    p = write(tmp_path, "Layer name, IFMAP height, IFMAP width, Filter height, Filter width, Channels, "
                        "Num filter, Stride height, Stride width,\n"
                        "a, 9, 17, 3, 3, 4, 8, 2, 4,,,\nb, 8, 8, 1, 1, 4, 4, 1, 1, #note,,\n")
    a, b = load_topology(p).workload.layers
    assert (a.out_h, a.out_w, a.M) == (4, 5, 20)  # ceil((9-3+2)/2) = 4, ceil((17-3+4)/4) = ceil(4.5) = 5
    assert load_topology(p).annotations == ((3, "#note"),)
    llama = load_topology(SCALESIM / "llama3b.csv").workload  # 'Batch Size' column multiplies M
    assert llama.layer("Embedding").M == 512 * 512 * 1


def test_scalesim_refusals_name_the_line(tmp_path):
    with pytest.raises(ValueError, match=r"Sentimental_seqLSTM_short.csv:6: field 'sparsity' \(column 9\): "
                                         r"expected a ratio N:M"):
        load_topology(SCALESIM / "Sentimental_seqLSTM_short.csv")  # a stray 9th number; SCALE-Sim fails too
    with pytest.raises(ValueError, match=r"sparsity_gemm.csv:2: field 'sparsity' \(column 5\): sparse layers \(3:4\)"):
        load_topology(SCALESIM / "sparsity_gemm.csv")
    with pytest.raises(ValueError, match=r":3: column 9: a '#' note must come after the numbers"):
        load_topology(write(tmp_path, CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\nb, 8, 8, 3, 3, 4, 4, 1, #x, 1:1,\n"))


def test_last_row_without_trailing_comma(tmp_path):
    w = load_topology(SCALESIM / "MobileNet_4k_non_dw.csv").workload
    assert w.layer_names[-1] == "FC" and w.layer("FC").N == 1000


def test_depthwise_written_as_one_dp_row_and_dp_names_kept_safe(tmp_path):
    """SCALE-Sim knows depth-wise layers by 'DP' in the name only: a depth-wise layer is
    one DP row (not one row per channel), and a dense layer whose name holds 'DP' is
    written so SCALE-Sim does not take it for a depth-wise one."""
    layers = [LayerSpec.conv("dw", 28, 28, 3, 3, 96, 96, padding=1, groups=96),
              LayerSpec.conv("xDPy", 28, 28, 1, 1, 96, 16)]
    w = Workload.chain("net", layers)
    out = write_topology(w, tmp_path / "net.csv")
    rows = out.read_text().splitlines()[1:]
    assert rows == ["dw_DP, 30, 30, 3, 3, 96, 1, 1,", "xD_Py, 28, 28, 1, 1, 96, 16, 1,"]  # padded extent
    back = read_topology(out)
    assert [(l.name, l.groups, l.macs) for l in back.layers] == [("dw_DP", 96, layers[0].macs),
                                                                  ("xD_Py", 1, layers[1].macs)]
    scalesim = scalesim_layers(out, gemm=False)  # SCALE-Sim's reader: 96 one-channel layers + 1
    assert len(scalesim) == 97 and sum(map(scalesim_macs, scalesim)) == w.macs


def test_hw_eval_reports_renames_on_stdout_and_bad_rows_in_one_line(tmp_path, capsys):
    from dse.cli import main

    path = str(SCALESIM / "DeepBench_DenseMatrixMultiplication.csv")
    assert main(["hw", "eval", "--topology", path, "--hwmodel", "systolic"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[5] == f"topology {path}: line 61: layer 'DeepSpeech_6' repeats line 15; renamed 'DeepSpeech_6_2'"
    assert main(["hw", "eval", "--topology", path, "--hwmodel", "systolic", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["layers"] and cap.err.count("renamed") == 6  # JSON stays clean
    bad = write(tmp_path, CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\nb, 8, 8, 3, x, 4, 4, 1,\n")
    assert main(["hw", "eval", "--topology", str(bad), "--hwmodel", "systolic"]) == 2
    assert capsys.readouterr().err == (f"dse: error: --topology: {bad}:3: field 'Filter Width' (column 5): "
                                       "expected a positive integer, got 'x'\n")



# --- absurdly large layers (issue 15 follow-up): refused with the line, the value and the limit ------

GEMM_HEAD = "Layer, M, N, K,\n"
LIMIT = "the limit 2**48 = 281,474,976,710,656"


@pytest.mark.parametrize("text, fragment", [
    # the example: 1e10-pixel IFMAP, 40,000 channels (priced "fits: yes" before)
    (CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\nbig, 100000, 100000, 3, 3, 40000, 80000, 1,\n",
     ":3: layer 'big': IFMAP elements (height x width x channels x batch) 400,000,000,000,000 is larger than " + LIMIT),
    (CONV_HEAD + "w, 3, 3, 3, 3, 20000000, 20000000, 1,\n",
     ":2: layer 'w': weight elements (filter height x width x channels x filters) 3,600,000,000,000,000 is larger"),
    (CONV_HEAD + "o, 16777216, 16, 1, 1, 1, 16777216, 1,\n",
     ":2: layer 'o': OFMAP elements (outputs x filters) 4,503,599,627,370,496 is larger than " + LIMIT),
    # 2**48 + 1 = 65537 x 193 x 22253377: every operand below the limit, the MACs one above it
    (GEMM_HEAD + "g, 65537, 22253377, 193,\n", ":2: layer 'g': MACs (M x K x N) 281,474,976,710,657 is larger than "
     + LIMIT),
    (GEMM_HEAD + "g, 16777216, 16777216, 2,\n", ":2: layer 'g': MACs (M x K x N) 562,949,953,421,312 is larger"),
    (GEMM_HEAD + "g, 281474976710657, 1, 1,\n", ":2: field 'M' (column 2): 281,474,976,710,657 is larger than " + LIMIT),
    (GEMM_HEAD + "g, 1, " + "9" * 5000 + ", 1,\n", ":2: field 'N' (column 3): 999999999999...(5000 digits) is larger"),
    (GEMM_HEAD + "g, 1, -" + "9" * 5000 + ", 1,\n",
     ":2: field 'N' (column 3): expected a positive integer, got -99999999999...(5000 digits)"),
    (CONV_HEAD + "s, 8, 8, 3, 3, 4, 4, 1000000000000000,\n", ":2: field 'Strides' (column 8): 1,000,000,000,000,000 is"),
])
def test_absurdly_large_layers_refused_with_line_value_and_limit(tmp_path, text, fragment):
    p = write(tmp_path, text)
    with pytest.raises(ValueError) as e:
        read_topology(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and fragment in msg and "\n" not in msg and len(msg) < 400


def test_size_limit_is_inclusive(tmp_path):
    # the largest layers read: 2**48 MACs with 2**48 A and C elements, and a conv of 2**48 MACs
    for text in (GEMM_HEAD + f"g, {2 ** 48}, 1, 1,\n", GEMM_HEAD + f"g, {2 ** 24}, {2 ** 12}, {2 ** 12},\n",
                 CONV_HEAD + "m, 4096, 4096, 1, 1, 4096, 4096, 1,\n"):
        assert read_topology(write(tmp_path, text)).layers[0].macs == 2 ** 48


def test_hw_eval_refuses_absurd_layer_in_one_line_creating_nothing(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "dse"))
    from cli_harness import assert_refused, run_inprocess, snapshot

    write(tmp_path, CONV_HEAD + "a, 8, 8, 3, 3, 4, 4, 1,\nbig, 100000, 100000, 3, 3, 40000, 80000, 1,\n", "big.csv")
    before = snapshot(tmp_path)
    r = run_inprocess(["hw", "eval", "--topology", "big.csv", "--hwmodel", "systolic"], tmp_path)
    after = snapshot(tmp_path)
    line = assert_refused(r, before, after, ("--topology: big.csv:3: layer 'big': IFMAP elements", LIMIT))
    assert "fits" not in r.stdout + line
