import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.quant import (QuantScheme, assign_sp2_rows, fake_quantize, levels, quantize_normalized,
                       term_quantize)
from dse.quant.fake import ActQuantizer, WeightQuantizer


def on_grid(values: torch.Tensor, grid: np.ndarray, atol=1e-6) -> bool:
    v = values.detach().double().numpy().ravel()
    return bool(np.all(np.min(np.abs(v[:, None] - grid[None, :]), axis=1) <= atol))


@pytest.mark.parametrize("kind,bits", [("fixed", 2), ("fixed", 4), ("fixed", 8), ("pow2", 3), ("pow2", 5),
                                        ("sp2", 3), ("sp2", 4), ("sp2", 6)])
def test_weight_values_lie_on_the_scaled_level_set(kind, bits):
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3)
    scheme = QuantScheme(kind, bits, granularity="per_row")
    wq = WeightQuantizer(scheme, w)
    out = wq(w)
    alpha = wq.alpha.detach().abs()
    for r in range(6):
        assert on_grid(out[r] / alpha[r], levels(kind, bits))
    # per-tensor: one scale
    wq_t = WeightQuantizer(QuantScheme(kind, bits, granularity="per_tensor"), w)
    assert wq_t.alpha.ndim == 0
    assert on_grid(wq_t(w) / wq_t.alpha.detach().abs(), levels(kind, bits))


@given(st.integers(0, 40), st.integers(1, 8), st.sampled_from(["binary", "csd"]), st.integers(3, 8))
@settings(max_examples=40, deadline=None)
def test_term_weights_equal_term_quantized_integers(budget, group, encoding, bits):
    torch.manual_seed(1)
    w = torch.randn(4, 3, 5)
    n = 2 ** (bits - 1) - 1
    s = QuantScheme("term", bits, term_budget=max(budget, 1), group_size=group, term_encoding=encoding)
    c = torch.clamp(w / w.abs().amax(), -1, 1)
    got = quantize_normalized(c, s) * n
    ints = torch.round(c.reshape(4, -1) * n)
    expect = term_quantize(ints, max(budget, 1), group, encoding).reshape(w.shape)
    torch.testing.assert_close(got, expect, rtol=0, atol=1e-4)


def test_gradients_flow_straight_through_and_to_the_scale():
    torch.manual_seed(0)
    w = torch.randn(8, 16, requires_grad=True)
    for kind, extra in [("fixed", {}), ("pow2", {}), ("sp2", {}), ("term", {"term_budget": 8, "group_size": 4}),
                        ("msq", {"sp2_fraction": 0.5})]:
        wq = WeightQuantizer(QuantScheme(kind, 4, **extra), w)
        w.grad = None
        out = wq(w)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        inside = (w.detach().abs() <= wq.alpha.detach().abs()[:, None])  # clamp passes grad at the bound
        # straight-through: d out / d w = 1 inside the clip range, 0 outside
        expect = torch.arange(out.numel(), dtype=torch.float32).reshape(out.shape) * inside
        torch.testing.assert_close(w.grad, expect), kind
        assert wq.alpha.grad is not None and torch.isfinite(wq.alpha.grad).all() and wq.alpha.grad.abs().sum() > 0


def test_lsq_scale_gradient_matches_formula():
    x = torch.tensor([0.1, 0.37, -0.8, 2.0, -3.0])
    alpha = torch.tensor(1.0, requires_grad=True)
    s = QuantScheme("fixed", 3)  # levels k/3
    out = fake_quantize(x, s, alpha=alpha, role="weight")
    out.sum().backward()
    c = torch.clamp(x / 1.0, -1, 1)
    q = torch.round(c * 3) / 3
    expect = torch.where(x.abs() < 1, q - c, torch.sign(x)).sum()
    torch.testing.assert_close(alpha.grad, expect)


def test_activation_quantizer_unsigned_after_relu_and_signed_otherwise():
    torch.manual_seed(0)
    x = torch.relu(torch.randn(16, 8))
    aq = ActQuantizer(QuantScheme("fixed", 8, a_bits=4))
    y = aq(x)
    assert not bool(aq.signed)
    a = aq.alpha.detach().abs()
    assert on_grid(y / a, np.arange(0, 16) / 15)
    aq2 = ActQuantizer(QuantScheme("fixed", 8, a_bits=4))
    y2 = aq2(torch.randn(16, 8))
    assert bool(aq2.signed)
    assert on_grid(y2 / aq2.alpha.detach().abs(), np.arange(-7, 8) / 7)


def test_activation_term_budget_limits_terms():
    torch.manual_seed(0)
    aq = ActQuantizer(QuantScheme("term", 8, a_bits=8, term_budget=4, a_term_budget=2))
    y = aq(torch.relu(torch.randn(64, 32)))
    ints = torch.round(y / aq.alpha.detach().abs() * 255)
    assert int(torch.tensor([bin(int(v)).count("1") for v in ints.ravel()]).max()) <= 2


def test_msq_rows_use_their_own_level_set():
    torch.manual_seed(0)
    w = torch.randn(8, 32)
    rows = torch.tensor([True, False] * 4)
    wq = WeightQuantizer(QuantScheme("msq", 4, sp2_fraction=0.5), w, rows)
    out = wq(w)
    alpha = wq.alpha.detach().abs()
    for r in range(8):
        grid = levels("sp2" if rows[r] else "fixed", 4)
        assert on_grid(out[r] / alpha[r], grid)


def test_sp2_rows_go_to_bell_shaped_rows():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(4, 4096, generator=g)
    unif = torch.rand(4, 4096, generator=g) * 2 - 1
    w = torch.stack([gauss[0], unif[0], gauss[1], unif[1], gauss[2], unif[2], gauss[3], unif[3]])
    mask = assign_sp2_rows(w, 0.5)
    assert mask.tolist() == [True, False] * 4
    assert assign_sp2_rows(w, 0.0).sum() == 0 and assign_sp2_rows(w, 1.0).sum() == 8
    assert int(assign_sp2_rows(w, 0.25).sum()) == 2


def test_mse_init_beats_max_clip_at_low_bits():
    torch.manual_seed(0)
    w = torch.randn(4, 2000)
    s = QuantScheme("fixed", 3)
    wq = WeightQuantizer(s, w)
    err_learned = ((wq(w) - w) ** 2).mean()
    err_max = ((fake_quantize(w, s) - w) ** 2).mean()
    assert err_learned < 0.8 * err_max
