import pytest
import torch
from torch import nn

from dse.quant import PlanError, QuantLayer, QuantScheme, compute_layer_names, quant_layers, quantize_model
from hwmodels import DesignPoint


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.conv1d = nn.Conv1d(1, 4, 3, padding=1)
        self.fc = nn.Linear(16 + 4 * 16, 10)

    def forward(self, x):
        a = self.features(x).flatten(1)
        b = self.conv1d(x.flatten(1)[:, None, :16]).flatten(1)
        return self.fc(torch.cat([a, b], 1))


def plan_all(kind="fixed", bits=4, **extra):
    names = compute_layer_names(SmallCNN())
    return {n: QuantScheme(kind, bits, **extra) for n in names}


def test_compute_layer_names():
    assert compute_layer_names(SmallCNN()) == ["features.0", "features.3", "features.5", "conv1d", "fc"]


@pytest.mark.parametrize("kind,extra", [("fixed", {}), ("pow2", {}), ("sp2", {}),
                                        ("term", {"term_budget": 6, "group_size": 4}),
                                        ("msq", {"sp2_fraction": 0.5})])
def test_every_kind_trains(kind, extra):
    torch.manual_seed(0)
    model = SmallCNN()
    q = quantize_model(model, plan_all(kind, 4, **extra))
    assert set(quant_layers(q)) == set(compute_layer_names(model))
    x = torch.randn(32, 1, 8, 8)
    y = torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(q.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(q(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    q.eval()
    assert q(x).shape == (32, 10)


def test_original_model_untouched_and_unplanned_layers_stay_float():
    torch.manual_seed(0)
    model = SmallCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, {"fc": QuantScheme("fixed", 2)})
    assert isinstance(q.fc, QuantLayer) and isinstance(q.features[0], nn.Conv2d)
    assert not any(isinstance(m, QuantLayer) for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_8bit_model_close_to_float_and_2bit_far():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(64, 1, 8, 8)
    ref = model(x)
    err8 = (quantize_model(model, plan_all("fixed", 8)).eval()(x) - ref).abs().mean()
    err2 = (quantize_model(model, plan_all("fixed", 2)).eval()(x) - ref).abs().mean()
    assert err8 < 0.05 * ref.abs().mean()
    assert err2 > 5 * err8


def test_accepts_design_point_and_dicts():
    dp = DesignPoint.make({"fc": QuantScheme("sp2", 4)})
    assert isinstance(quantize_model(SmallCNN(), dp).fc, QuantLayer)
    q = quantize_model(SmallCNN(), {"fc": {"kind": "term", "w_bits": 8, "term_budget": 3}})
    assert q.fc.scheme.term_budget == 3


def test_bad_plans_name_the_layer():
    with pytest.raises(PlanError, match="'conv9'.*not found.*features.0"):
        quantize_model(SmallCNN(), {"conv9": QuantScheme()})
    with pytest.raises(PlanError, match="'features.1'.*BatchNorm2d"):
        quantize_model(SmallCNN(), {"features.1": QuantScheme()})
    with pytest.raises(PlanError, match="'fc'.*term_budget"):
        quantize_model(SmallCNN(), {"fc": {"kind": "term", "w_bits": 8}})
    with pytest.raises(PlanError, match="'fc'.*shape"):
        quantize_model(SmallCNN(), {"fc": QuantScheme("msq", 4, sp2_fraction=0.5)}, sp2_rows={"fc": [True] * 3})


def test_msq_explicit_row_assignment_is_used():
    q = quantize_model(SmallCNN(), {"fc": QuantScheme("msq", 4, sp2_fraction=0.3)},
                       sp2_rows={"fc": [True] * 5 + [False] * 5})
    assert q.fc.weight_quant.sp2_rows.tolist() == [True] * 5 + [False] * 5


def test_state_dict_round_trip_reproduces_outputs():
    torch.manual_seed(0)
    x = torch.randn(8, 1, 8, 8)
    q = quantize_model(SmallCNN(), plan_all("msq", 4, sp2_fraction=0.5))
    q.eval()
    y = q(x)
    q2 = quantize_model(SmallCNN(), plan_all("msq", 4, sp2_fraction=0.5))
    q2.load_state_dict(q.state_dict())
    q2.eval()
    torch.testing.assert_close(q2(x), y)
