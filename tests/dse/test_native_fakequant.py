"""The fused fake-quantization kernel (dse/quant/native/fakequant.c) against the torch path it
replaces: forward values and every gradient (input, clip) compared as float32 bit patterns."""
from __future__ import annotations

import shutil

import pytest
import torch

from dse.quant import QuantScheme, fused, levels, native
from dse.quant.fake import ActQuantizer, WeightQuantizer, lsq_fake_quant

HAVE_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
# (not skipped when the build fails with a compiler present: test_kernel_is_used... then fails)
pytestmark = pytest.mark.skipif(not HAVE_CC or not native.enabled(),
                                reason="no C compiler (or DSE_NATIVE=0): only the torch path exists here")


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


def _run(fn, alpha: torch.Tensor, x: torch.Tensor, up: torch.Tensor, native_path: bool, x_grad: bool = True):
    """fn(x)'s value, x's and alpha's gradients, and whether the kernel ran."""
    saved = fused._lib
    if not native_path:
        fused._lib = None  # forces the torch path
    try:
        xx = x.clone().requires_grad_(x_grad)
        alpha.grad = None
        out = fn(xx)
        used = bool(getattr(out.grad_fn, "native", False))
        out.backward(up)
        grads = [xx.grad.clone()] if x_grad else []
        if alpha.requires_grad:
            grads.append(alpha.grad.clone())
        return [out.detach().clone(), *grads], used
    finally:
        fused._lib = saved


def _assert_same(module, x, up, fn=None, x_grad=True, expect_native=True):
    fn = fn or module
    got, used = _run(fn, module.alpha, x, up, True, x_grad)
    ref, used_ref = _run(fn, module.alpha, x, up, False, x_grad)
    assert used is expect_native and not used_ref
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape and torch.equal(_bits(g), _bits(r))


WEIGHT_SCHEMES = [
    QuantScheme("fixed", 4), QuantScheme("fixed", 8, granularity="per_tensor"), QuantScheme("pow2", 4),
    QuantScheme("pow2", 6, granularity="per_tensor"), QuantScheme("sp2", 5), QuantScheme("sp2", 8),
    QuantScheme("msq", 4, sp2_fraction=0.5), QuantScheme("msq", 4, sp2_fraction=0.0),
    QuantScheme("term", 8, term_budget=12, group_size=4),
    QuantScheme("term", 6, term_budget=3, group_size=1, term_encoding="csd"),
    QuantScheme("term", 8, term_budget=5, group_size=4, granularity="per_tensor"),
]
SHAPES = [(6, 4, 3, 3), (5, 3, 7), (17, 33), (1, 40), (3, 1000)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("scheme", WEIGHT_SCHEMES, ids=lambda s: f"{s.kind}{s.w_bits}-{s.granularity}-{s.group_size}")
def test_weight_quantizer_kernel_equals_torch_path(scheme, shape):
    gen = torch.Generator().manual_seed(sum(shape) * 31 + scheme.w_bits)
    w = torch.randn(*shape, generator=gen)
    wq = WeightQuantizer(scheme, w)
    with torch.no_grad():
        wq.alpha.mul_(0.8)  # some weights outside the clip, one exactly on it (t == 1), signed zeros
        w.view(-1)[0] = wq.alpha.reshape(-1)[0].abs()
        w.view(-1)[1] = -0.0
        w.view(-1)[2] = 0.0
    _assert_same(wq, w, torch.randn(*shape, generator=gen))


@pytest.mark.parametrize("bits", [[2, 3, 4, 5, 6], [8, 8, 2, 3, 4]])
def test_per_row_widths_kernel_equals_torch_path(bits):
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(5, 3, 3, 3, generator=gen)
    wq = WeightQuantizer(QuantScheme.with_row_bits(bits), w)
    _assert_same(wq, w, torch.randn(w.shape, generator=gen))


@pytest.mark.parametrize("shape", [(8, 4, 5, 5), (64, 16, 8, 8), (3, 7), (5,)], ids=str)
@pytest.mark.parametrize("spec", ["fixed:4,a_bits=4", "fixed:8,a_bits=8",
                                  "term:8,term_budget=12,group_size=4,a_term_budget=3"])
@pytest.mark.parametrize("signed", [True, False])
def test_activation_quantizer_kernel_equals_torch_path(spec, shape, signed):
    gen = torch.Generator().manual_seed(len(shape) + 7)
    x = torch.randn(*shape, generator=gen)
    x = x if signed else torch.relu(x)  # unsigned: exact zeros on the lower bound
    aq = ActQuantizer(QuantScheme.parse(spec))
    aq(x)  # first batch: signedness and clip
    if signed:
        with torch.no_grad():
            aq.alpha.neg_()  # a clip gone negative: |alpha| is used and its sign flips the gradient
    _assert_same(aq, x, torch.randn(*shape, generator=gen))


def test_first_layer_input_without_gradient_and_frozen_clip():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(16, 1, 8, 8, generator=gen)
    aq = ActQuantizer(QuantScheme.parse("fixed:4,a_bits=4"))
    aq(x)
    _assert_same(aq, x, torch.randn(x.shape, generator=gen), x_grad=False)  # image batch: no input grad
    aq.alpha.requires_grad_(False)
    _assert_same(aq, x, torch.randn(x.shape, generator=gen))  # frozen clip: input grad only


def test_ties_land_where_torch_puts_them():
    """Values exactly on a rounding tie: c * n exactly half-way between integers (round half
    to even) and exactly on a midpoint between pow2 levels (bucketize: the lower level)."""
    n = 7
    cand = (torch.arange(-n, n, dtype=torch.float32) + 0.5) / n
    cand = torch.cat([cand, torch.nextafter(cand, cand + 1), torch.nextafter(cand, cand - 1)])
    halves = cand[(cand * n) == torch.round(cand * n * 2) / 2]
    halves = halves[(halves * n) % 1 == 0.5]
    assert halves.numel() >= 4
    lv = torch.as_tensor(levels("pow2", 4), dtype=torch.float32)
    mids = (lv[1:] + lv[:-1]) / 2
    w = torch.cat([halves, mids, torch.tensor([0.5, -0.5])]).reshape(1, -1).repeat(3, 1)
    for scheme in (QuantScheme("fixed", 4), QuantScheme("pow2", 4), QuantScheme("fixed", 2)):
        wq = WeightQuantizer(scheme, w)
        with torch.no_grad():
            wq.alpha.fill_(1.0)
        _assert_same(wq, w, torch.ones(w.shape))


def test_tiny_and_negative_clips():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(4, 9, generator=gen) * 1e-9
    wq = WeightQuantizer(QuantScheme("fixed", 4), w)
    with torch.no_grad():
        wq.alpha.copy_(torch.tensor([1e-9, -1e-9, -0.5, 0.0]))  # below 1e-8 the clip is 1e-8
    _assert_same(wq, w, torch.randn(w.shape, generator=gen))


@pytest.mark.parametrize("threads", [1, 2])
def test_large_per_tensor_sums_follow_torch_for_any_thread_count(threads):
    """Above torch's grain size a per-tensor sum runs on several threads (another order):
    the kernel then hands the terms to torch.sum."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(4)
        x = torch.randn(3, 50_000, generator=gen)
        wq = WeightQuantizer(QuantScheme("fixed", 8, granularity="per_tensor"), x)
        _assert_same(wq, x, torch.randn(x.shape, generator=gen))
        aq = ActQuantizer(QuantScheme.parse("fixed:4,a_bits=4"))
        aq(x)
        _assert_same(aq, x, torch.randn(x.shape, generator=gen))
    finally:
        torch.set_num_threads(before)


def test_inputs_the_kernel_does_not_take_use_the_torch_path():
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(6, 10, generator=gen)
    wq = WeightQuantizer(QuantScheme("fixed", 4), w)
    wt = torch.randn(10, 6, generator=gen).t()  # not contiguous
    _assert_same(wq, wt, torch.randn(6, 10, generator=gen), expect_native=False)
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x64 = torch.randn(5, 5, dtype=torch.float64, generator=gen)
    out = lsq_fake_quant(x64.requires_grad_(), alpha, 0.1, -1.0, lambda c: torch.round(c * 7) / 7)
    assert not out.grad_fn.native


def test_evaluation_values_equal_torch_path():
    gen = torch.Generator().manual_seed(6)
    w = torch.randn(8, 4, 3, 3, generator=gen)
    for scheme in WEIGHT_SCHEMES:
        wq = WeightQuantizer(scheme, w)
        with torch.no_grad():
            got = wq(w).clone()
            wq._cache = None
            saved, fused._lib = fused._lib, None
            try:
                ref = wq(w).clone()
            finally:
                fused._lib = saved
        assert torch.equal(_bits(got), _bits(ref)), scheme


def test_kernel_is_used_and_sums_in_torch_order_on_this_machine():
    assert fused.library() is not None
    assert fused.sum_width() in (4, 8, 16)  # a width reproducing torch.sum was found
    lib = fused._lib
    gen = torch.Generator().manual_seed(8)
    for n in (1, 7, 8, 9, 31, 33, 257, 4097, 40_000, 300_001):
        p = torch.randn(2, n, generator=gen) * 10
        out = torch.empty(2)
        lib.fq_rowsum(2, n, p.data_ptr(), fused.sum_width(), out.data_ptr())
        assert torch.equal(_bits(out), _bits(p.sum(1))), n


def test_rounding_follows_scheme_switches_and_row_masks():
    gen = torch.Generator().manual_seed(9)
    w = torch.randn(6, 5, 3, generator=gen)
    up = torch.randn(w.shape, generator=gen)
    wq = WeightQuantizer(QuantScheme("fixed", 4), w)
    _assert_same(wq, w, up)
    wq.set_scheme(QuantScheme("fixed", 6))  # another grid: the cached rounding must not be reused
    _assert_same(wq, w, up)
    mq = WeightQuantizer(QuantScheme("msq", 4, sp2_fraction=0.5), w)
    _assert_same(mq, w, up)
    with torch.no_grad():
        mq.sp2_rows.logical_not_()  # the other rows in SP2, changed in place
    _assert_same(mq, w, up)


def test_rows_of_one_value_use_the_torch_path():
    """sum_to_size over a single value is no sum in torch (a -0.0 term stays -0.0)."""
    gen = torch.Generator().manual_seed(10)
    w = torch.randn(7, 1, generator=gen)
    w[0, 0] = -0.0
    wq = WeightQuantizer(QuantScheme("fixed", 4), w)
    _assert_same(wq, w, torch.randn(w.shape, generator=gen), expect_native=False)


def test_without_a_matching_sum_order_torch_sums_the_kernels_terms(monkeypatch):
    """When no vector width reproduces torch.sum (another torch), the kernel writes the two
    gradient terms and torch sums them: still the torch path's bits."""
    fused.library()
    monkeypatch.setattr(fused, "_width", 0)
    gen = torch.Generator().manual_seed(12)
    w = torch.randn(5, 4, 3, 3, generator=gen)
    up = torch.randn(w.shape, generator=gen)
    for scheme in (QuantScheme("pow2", 4), QuantScheme("fixed", 8, granularity="per_tensor"),
                   QuantScheme.with_row_bits([2, 3, 4, 5, 6])):
        _assert_same(WeightQuantizer(scheme, w), w, up)
    aq = ActQuantizer(QuantScheme.parse("fixed:4,a_bits=4"))
    aq(w)
    _assert_same(aq, w, up)
