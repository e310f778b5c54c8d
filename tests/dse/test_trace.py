"""torch.fx tracing of models into hwmodels Workloads: exact GEMM dims, MACs, edges, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dse.errors import UserError
from dse.quant import compute_layer_names, quantize_model
from dse.workloads import TraceError, get_workload, get_workload_spec, trace_workload
from hwmodels import LayerSpec, QuantScheme


def dims(spec, name):
    layer = spec.layer(name)
    return (layer.M, layer.K, layer.N, layer.groups)


def test_digits_exact_gemm_dims():
    spec = get_workload_spec("digits")
    assert spec.layer_names == ("conv1", "conv2", "conv3", "fc")
    assert dims(spec, "conv1") == (64, 9, 16, 1)
    assert dims(spec, "conv2") == (64, 144, 32, 1)
    assert dims(spec, "conv3") == (16, 288, 32, 1)
    assert dims(spec, "fc") == (1, 128, 10, 1)
    assert spec.layer("fc").kind == "linear" and spec.layer("conv1").kind == "conv"
    assert spec.macs == 64 * 9 * 16 + 64 * 144 * 32 + 16 * 288 * 32 + 128 * 10
    assert spec.edges == (("conv1", "conv2"), ("conv2", "conv3"), ("conv3", "fc"))


def test_mnist1d_conv1d_dims():
    spec = get_workload_spec("mnist1d")
    c1, c2, c4 = spec.layer("conv1"), spec.layer("conv2"), spec.layer("conv4")
    assert (c1.M, c1.K, c1.N, c1.ifmap_h, c1.ifmap_w, c1.filt_h, c1.filt_w) == (40, 5, 32, 1, 44, 1, 5)
    assert (c2.M, c2.K, c2.N, c2.stride, c2.out_w) == (20, 96, 32, 2, 20)
    assert (c4.M, c4.K, c4.N) == (5, 192, 64)
    assert dims(spec, "fc") == (1, 320, 10, 1)


def test_resnet18_macs_and_layers():
    spec = get_workload_spec("resnet18")
    assert abs(spec.macs - 1.814e9) / 1.814e9 < 0.01
    assert spec.macs == 1_814_073_344  # torchvision's figure, exactly
    assert len(spec.layers) == 21  # 1 + 16 block convs + 3 downsamples + fc
    conv1 = spec.layer("conv1")
    assert (conv1.M, conv1.K, conv1.N, conv1.stride, conv1.ifmap_h, conv1.out_h) == (12544, 147, 64, 2, 230, 112)
    assert dims(spec, "layer1.0.conv1") == (3136, 576, 64, 1)
    assert dims(spec, "layer2.0.conv1") == (784, 576, 128, 1)
    assert dims(spec, "layer2.0.downsample.0") == (784, 64, 128, 1)
    assert dims(spec, "layer4.1.conv2") == (49, 4608, 512, 1)
    assert dims(spec, "fc") == (1, 512, 1000, 1)
    assert spec.weights == 11_678_912


def test_resnet18_residual_edges():
    spec = get_workload_spec("resnet18")
    edges = set(spec.edges)
    # first block: identity shortcut from the stem joins conv2's output in 'add'
    assert ("layer1.0.conv2", "add") in edges and ("conv1", "add") in edges
    assert ("add", "layer1.1.conv1") in edges
    # downsampling block: both the projection and conv2 feed the join
    join = [b for a, b in spec.edges if a == "layer2.0.downsample.0"]
    assert len(join) == 1 and ("layer2.0.conv2", join[0]) in edges
    g = spec.graph
    assert g.nodes["add"]["compute"] is False and g.nodes["conv1"]["compute"] is True
    assert g.in_degree("add") == 2


def test_resnet50_and_mobilenetv2_macs():
    r50 = get_workload_spec("resnet50")
    assert abs(r50.macs - 4.089e9) / 4.089e9 < 0.01
    assert dims(r50, "layer1.0.conv3") == (3136, 64, 256, 1)
    mb = get_workload_spec("mobilenetv2")
    assert abs(mb.macs - 300.77e6) / 300.77e6 < 0.01
    dw = mb.layer("features.2.conv.1.0")  # depthwise 3x3, stride 2, 96 channels
    assert (dw.M, dw.K, dw.N, dw.groups, dw.stride) == (3136, 9, 96, 96, 2)
    assert dw.macs == 3136 * 9 * 96
    assert dims(mb, "classifier.1") == (1, 1280, 1000, 1)


def test_grouped_conv_linear_on_sequences_and_same_padding():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.grouped = nn.Conv2d(8, 12, 3, stride=1, padding=1, groups=4)
            self.same = nn.Conv2d(12, 6, (3, 5), padding="same")
            self.proj = nn.Linear(10, 7)

        def forward(self, x):
            y = self.same(self.grouped(x))  # (1, 6, 10, 10)
            return self.proj(y.flatten(1, 2))  # linear over 60 rows (6 channels x 10 rows) of 10

    spec = trace_workload(Net(), torch.zeros(1, 8, 10, 10))
    g = spec.layer("grouped")
    assert (g.M, g.K, g.N, g.groups, g.channels) == (100, 18, 12, 4, 8)
    assert g.macs == 100 * 9 * 8 // 4 * 12
    s = spec.layer("same")
    assert (s.M, s.K, s.N, s.ifmap_h, s.ifmap_w) == (100, 180, 6, 12, 14)
    p = spec.layer("proj")
    assert (p.M, p.K, p.N, p.kind) == (60, 10, 7, "linear")


def test_concat_join_is_kept():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.b = nn.Conv2d(3, 4, 3, padding=1)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.head(torch.relu(torch.cat([self.a(x), self.b(x)], dim=1)))

    spec = trace_workload(Branches(), torch.zeros(1, 3, 6, 6), name="branches")
    assert spec.name == "branches"
    assert set(spec.edges) == {("a", "cat"), ("b", "cat"), ("cat", "head")}
    assert dims(spec, "head") == (36, 8, 2, 1)


def test_shared_module_is_one_layer_with_summed_m():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x)))

    spec = trace_workload(Shared(), torch.zeros(1, 4, 5, 5))
    assert spec.layer_names == ("conv",)
    assert spec.layer("conv").M == 50 and spec.macs == 50 * 36 * 4


def test_names_apply_to_model_and_quantized_model_traces_the_same():
    bundle = get_workload("cifar10")
    spec = bundle.spec
    model = bundle.build_model()
    assert list(spec.layer_names) == compute_layer_names(model)
    plan = {name: QuantScheme(kind="fixed", w_bits=4, a_bits=4) for name in spec.layer_names}
    qmodel = quantize_model(model, plan)  # every traced name is a module of the model
    assert trace_workload(qmodel, bundle.example_input, name="cifar10") == spec


def test_trace_leaves_model_mode_and_rng_alone():
    model = get_workload("digits").build_model()
    model.train()
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    trace_workload(model, torch.zeros(1, 1, 8, 8))
    assert model.training
    assert torch.equal(torch.rand(3), expected)


def test_untraceable_model_says_to_pass_layers():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:  # control flow on a tensor value: fx cannot trace it
                return self.fc(x)
            return -self.fc(x)

    with pytest.raises(TraceError, match="layers") as err:
        trace_workload(DataDependent(), torch.zeros(1, 4), name="dd")
    assert isinstance(err.value, UserError)
    assert "dd" in str(err.value) and "\n" not in str(err.value)


def test_wrong_example_input_and_no_compute_layers():
    with pytest.raises(TraceError, match="example input"):
        trace_workload(nn.Sequential(nn.Conv2d(3, 4, 3)), torch.zeros(1, 5, 8, 8))
    with pytest.raises(TraceError, match="no Conv1d, Conv2d or Linear"):
        trace_workload(nn.Sequential(nn.ReLU()), torch.zeros(1, 3))


def test_batch_of_example_input_scales_m():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 16, 5))
    one = trace_workload(model, torch.zeros(1, 3, 4, 4))
    four = trace_workload(model, torch.zeros(4, 3, 4, 4))
    assert [l.M * 4 for l in one.layers] == [l.M for l in four.layers]
    assert one.layers[0] == LayerSpec.conv("0", 4, 4, 3, 3, 3, 8, padding=1)
    assert math.isclose(four.macs, 4 * one.macs)
