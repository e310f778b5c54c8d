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


# --- the fused LSQ node against the composed torch ops it replaces (bit-identical) ---

import math  # noqa: E402

from dse.quant.fake import grad_scale, ste  # noqa: E402


def composed_weight(wq: WeightQuantizer, w: torch.Tensor) -> torch.Tensor:
    """The weight quantizer as plain autograd ops (the implementation before the fused node)."""
    g = wq._gscale
    if isinstance(g, torch.Tensor):
        g = g.to(wq.alpha.dtype)
    a = grad_scale(wq.alpha, g).abs().clamp_min(1e-8)
    a = a.view((-1,) + (1,) * (w.ndim - 1)) if wq.per_row else a
    c = torch.clamp(w / a, -1, 1)
    return ste(c, wq._quant(c)) * a


def composed_act(aq: ActQuantizer, x: torch.Tensor) -> torch.Tensor:
    n = aq._levels_n()
    per_item = x[0].numel() if x.ndim > 1 else x.numel()
    a = grad_scale(aq.alpha, 1.0 / math.sqrt(per_item * n)).abs().clamp_min(1e-8)
    c = torch.clamp(x / a, -1.0 if bool(aq.signed) else 0.0, 1.0)
    return ste(c, aq._quant(c)) * a


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


def _grads(fn, module, x, upstream):
    for p in (x, module.alpha):
        p.grad = None
    out = fn(x)
    out.backward(upstream)
    return out, x.grad.clone(), module.alpha.grad.clone()


WEIGHT_SCHEMES = [QuantScheme("fixed", 4), QuantScheme("fixed", 8, granularity="per_tensor"), QuantScheme("pow2", 4),
                  QuantScheme("sp2", 5), QuantScheme("term", 8, term_budget=12, group_size=4),
                  QuantScheme("term", 6, term_budget=3, group_size=1, term_encoding="csd"),
                  QuantScheme("msq", 4, sp2_fraction=0.5), QuantScheme.with_row_bits([2, 3, 4, 5, 6, 8])]


@pytest.mark.parametrize("scheme", WEIGHT_SCHEMES, ids=lambda s: s.kind + str(s.w_bits) + s.granularity)
def test_fused_weight_quantizer_is_bit_identical_to_composed_ops(scheme):
    torch.manual_seed(5)
    w = torch.randn(6, 4, 3, 3)
    wq = WeightQuantizer(scheme, w)
    with torch.no_grad():  # move the clip off its init so some weights sit outside, one exactly on it
        wq.alpha.mul_(0.8)
        w[0, 0, 0, 0] = wq.alpha.reshape(-1)[0].abs()  # t == 1 exactly: clamp's gradient passes there
    w.requires_grad_(True)
    up = torch.randn(w.shape)
    fused = _grads(wq, wq, w, up)
    ref = _grads(lambda v: composed_weight(wq, v), wq, w, up)
    for got, expect in zip(fused, ref):
        assert torch.equal(_bits(got), _bits(expect))


@pytest.mark.parametrize("spec", ["fixed:4,a_bits=4", "fixed:8,a_bits=8",
                                  "term:8,term_budget=12,group_size=4,a_term_budget=3"])
@pytest.mark.parametrize("signed", [True, False])
def test_fused_act_quantizer_is_bit_identical_to_composed_ops(spec, signed):
    torch.manual_seed(6)
    x0 = torch.randn(8, 4, 5, 5)
    x0 = x0 if signed else torch.relu(x0)  # unsigned: many exact zeros, on the clip's lower bound
    aq = ActQuantizer(QuantScheme.parse(spec))
    aq(x0)  # first batch fixes signedness and the clip (max|x| is on the grid: t == 1 exactly there)
    if signed:
        with torch.no_grad():
            aq.alpha.neg_()  # a clip that went negative in training: |alpha| is used, its sign flips the gradient
    x = x0.clone().requires_grad_(True)
    up = torch.randn(x.shape)
    fused = _grads(aq, aq, x, up)
    ref = _grads(lambda v: composed_act(aq, v), aq, x, up)
    for got, expect in zip(fused, ref):
        assert torch.equal(_bits(got), _bits(expect))


def test_weight_quantization_is_reused_in_evaluation_until_something_changes():
    torch.manual_seed(7)
    lin = torch.nn.Linear(16, 8)
    wq = WeightQuantizer(QuantScheme("term", 8, term_budget=6, group_size=4), lin.weight)
    with torch.no_grad():
        first = wq(lin.weight)
        assert wq(lin.weight) is first  # cached
        lin.weight.add_(0.05)  # the optimizer's in-place update: recomputed
        second = wq(lin.weight)
        assert second is not first
        assert torch.equal(second, composed_weight(wq, lin.weight))
        wq.alpha.mul_(0.9)
        assert torch.equal(wq(lin.weight), composed_weight(wq, lin.weight))
        wq.set_scheme(QuantScheme("term", 8, term_budget=2, group_size=4))
        assert torch.equal(wq(lin.weight), composed_weight(wq, lin.weight))
    out = wq(lin.weight)  # training: never the cache, gradients flow
    assert out.requires_grad
