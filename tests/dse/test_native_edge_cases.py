"""Review of the native kernels (issue 16): uses of the fused fake-quant and term kernels that
the first tests did not cover: saved-tensor hooks (gradient checkpointing, save_on_cpu),
a quantizer moved between dtypes, torch.jit.trace, and a machine with no home directory."""
from __future__ import annotations

import gc
import pathlib
import shutil

import pytest
import torch
from torch.utils import checkpoint

from dse.quant import QuantScheme, fused, native, quantize_model, terms
from dse.quant.fake import WeightQuantizer, lsq_fake_quant
from dse.quant.terms import term_quantize_rows

HAVE_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
pytestmark = pytest.mark.skipif(not HAVE_CC or not native.enabled(),
                                reason="no C compiler (or DSE_NATIVE=0): only the torch path exists here")


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


@pytest.fixture
def torch_path(monkeypatch):
    """Call it to force the torch path from then on (both kernels)."""
    def force():
        monkeypatch.setattr(fused, "_lib", None)
        monkeypatch.setattr(terms, "_lib", None)
    return force


def _grads(x, alpha, up, hooks: bool):
    """Value and gradients of a per-tensor fake quantization, the saved tensors replaced by
    copies when ``hooks`` (as torch.autograd.graph.save_on_cpu does); the originals' memory
    is then reused before the backward."""
    xx = x.clone().requires_grad_()
    alpha.grad = None
    quant = lambda c: torch.round(c * 7) / 7
    if hooks:
        with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
            out = lsq_fake_quant(xx, alpha, 0.1, -1.0, quant)
    else:
        out = lsq_fake_quant(xx, alpha, 0.1, -1.0, quant)
    gc.collect()
    junk = [torch.full((2 * x.numel() + 2,), 123.0) for _ in range(64)]  # takes the freed blocks
    out.backward(up)
    del junk
    return out.grad_fn is None or bool(getattr(out.grad_fn, "native", False)), [out, xx.grad, alpha.grad]


def test_saved_tensor_hooks_that_copy_the_buffers():
    """The backward reads the tensors autograd hands back, not the forward's (freed) buffers."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 64, generator=gen)
    up = torch.randn(x.shape, generator=gen)
    alpha = torch.tensor(1.5, requires_grad=True)
    used, plain = _grads(x, alpha, up, hooks=False)
    used_h, hooked = _grads(x, alpha, up, hooks=True)
    assert used and used_h
    for a, b in zip(plain, hooked):
        assert torch.equal(_bits(a), _bits(b))


def test_gradient_checkpointing_equals_torch_path(torch_path):
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(8, 9, generator=gen)
    inp = torch.randn(4, 9, generator=gen)
    wq = WeightQuantizer(QuantScheme("pow2", 4), w)

    def f(i, weight):
        return torch.nn.functional.linear(i, wq(weight))

    def run(use_checkpoint):
        ww = w.clone().requires_grad_()
        wq.alpha.grad = None
        out = checkpoint.checkpoint(f, inp, ww, use_reentrant=False) if use_checkpoint else f(inp, ww)
        out.square().sum().backward()
        return [out, ww.grad, wq.alpha.grad]

    native_runs = [run(False), run(True)]
    torch_path()
    ref = run(False)
    for got in native_runs:
        for a, b in zip(got, ref):
            assert torch.equal(_bits(a), _bits(b))


@pytest.mark.parametrize("scheme", [QuantScheme("pow2", 4), QuantScheme.with_row_bits([2, 3, 4, 5, 6, 7]),
                                    QuantScheme("msq", 4, sp2_fraction=0.5)], ids=["pow2", "row_bits", "msq"])
def test_rounding_cache_follows_the_weights_dtype(scheme, torch_path):
    """A quantizer run in float64 (levels cached in float64), then moved back to float32: the
    kernel must not read the float64 levels as float32."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, generator=gen)
    wq = WeightQuantizer(scheme, w)
    wq.double()
    wq(w.double())
    wq.float()
    out = wq(w)
    assert out.grad_fn.native
    got = out.detach().clone()
    torch_path()
    assert torch.equal(_bits(got), _bits(wq(w)))


@pytest.mark.parametrize("spec", ["fixed:4,a_bits=4", "term:8,term_budget=5,group_size=4,a_bits=4,a_term_budget=2"])
def test_jit_trace_replays_on_new_inputs(spec):
    """torch.jit.trace records torch ops only: traced, a quantized model takes the torch path
    (a kernel call would be missing from the trace, or crash the tracer)."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 10))
    scheme = QuantScheme.parse(spec)
    m = quantize_model(m, {"0": scheme, "3": scheme})
    gen = torch.Generator().manual_seed(4)
    x, x2 = torch.randn(8, 1, 8, 8, generator=gen), torch.randn(8, 1, 8, 8, generator=gen)
    m(x)  # activation clips
    m.eval()
    with torch.no_grad():
        m(x)  # (the weights' cached evaluation values; tracing their first evaluation fails in torch itself)
        traced = torch.jit.trace(m, x, check_trace=False)
        assert torch.equal(traced(x2), m(x2))


def test_term_kernel_is_not_traced():
    f = lambda w: term_quantize_rows(w, 3, 4, "binary", torch.float32, 127, prescale=127)
    gen = torch.Generator().manual_seed(5)
    w, w2 = torch.rand(4, 16, generator=gen) * 2 - 1, torch.rand(4, 16, generator=gen) * 2 - 1
    traced = torch.jit.trace(f, w, check_trace=False)
    assert torch.equal(traced(w2), f(w2))


def test_no_home_directory_means_no_library(monkeypatch):
    """No HOME and no passwd entry (Path.home() raises): torch path, no exception."""
    monkeypatch.delenv("DSE_NATIVE_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home(cls=None):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(pathlib.Path, "home", classmethod(no_home))
    assert native._build("fakequant") is None


def _model_grads(mode: str):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3), torch.nn.Flatten(),
                            torch.nn.Linear(64, 10))
    scheme = QuantScheme.parse("term:8,term_budget=5,group_size=4,a_bits=4,a_term_budget=2")
    m = quantize_model(m, {"0": scheme, "2": scheme, "4": scheme})
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    if mode == "channels_last":
        m = m.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
        y = m(x)
    y.float().square().sum().backward()
    return [y.float(), x.grad] + [p.grad for p in m.parameters()]


@pytest.mark.parametrize("mode", ["channels_last", "autocast"])
def test_channels_last_and_autocast_models_equal_torch_path(mode, torch_path):
    """channels_last: a one-channel input is contiguous with channels_last strides, and conv
    picks its algorithm by those strides: the kernel's results keep the torch path's layout.
    autocast: bfloat16 activations take the torch path (whose clip gradient had no bfloat16)."""
    got = _model_grads(mode)
    torch_path()
    ref = _model_grads(mode)
    for a, b in zip(got, ref):
        assert a.stride() == b.stride()
        assert torch.equal(a.detach().float(), b.detach().float())
