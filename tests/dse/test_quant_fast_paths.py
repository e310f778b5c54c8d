"""The speed-only paths of dse.quant (issue 16) give exactly the plain computation's values:
term quantization chunk by chunk (several chunks, rounding inside: ``prescale``) and the
level-set cache of the nearest-level formats (rebuilt when a kind is re-registered)."""

import numpy as np
import pytest
import torch

from dse.quant import QuantScheme, quantize_normalized
from dse.quant import terms as _terms
from dse.quant.formats import nearest_level, round_to_levels
from dse.quant.formats.grid import scaled_round
from hwmodels.formats import NumberFormat, levels, register_format, unregister_format


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


@pytest.mark.parametrize("encoding", ["binary", "csd"])
def test_chunked_and_prescaled_term_quantization_is_bit_identical(monkeypatch, encoding):
    """Small chunks (several per tensor, a short last one) and rounding inside the chunk
    loop: the per-plane method's values, and the float32 bits of rounding first."""
    monkeypatch.setattr(_terms, "_CHUNK_VALUES", 48)
    g = torch.Generator().manual_seed(5)
    c = (torch.randn(9, 50, generator=g) / 2.5).clamp(-1, 1)
    c[0, :7] = torch.tensor([0.5 / 127, -0.5 / 127, 1.5 / 127, -2.5 / 127, 0.0, -0.0, 1.0])  # rounding ties, zeros
    n = 127
    q = torch.round(c * n)
    per_row = torch.randint(0, 12, (9,), generator=g)
    for group, budget in [(1, 2), (1, 0), (4, 3), (5, 7), (10, 0), (16, 9), (16, 200), (50, 40), (4, per_row)]:
        slow = _terms._plane_rows(q.to(torch.int64), budget, group, encoding).to(torch.float32) / n
        plain = _terms.term_quantize_rows(q, budget, group, encoding, torch.float32, n)
        fused = _terms.term_quantize_rows(c, budget, group, encoding, torch.float32, n, prescale=n)
        assert torch.equal(plain, slow), (group, budget)  # (-0.0 == 0.0: a budget keeping all keeps -0.0)
        assert torch.equal(_bits(fused), _bits(plain)), (group, budget)


def test_term_weight_quantizer_rounds_as_before():
    """quantize_normalized (term kind) rounds inside the chunk loop: same bits as rounding
    the whole weight first, rows on another dim included."""
    g = torch.Generator().manual_seed(6)
    c = (torch.randn(6, 4, 3, 3, generator=g) / 2).clamp(-1, 1)
    s = QuantScheme("term", 6, term_budget=5, group_size=4, term_encoding="csd")
    n = 31
    for row_dim in (0, 1):
        by_row = c.movedim(row_dim, 0)
        q = torch.round(by_row.reshape(by_row.shape[0], -1) * n)
        want = (_terms._plane_rows(q.to(torch.int64), 5, 4, "csd").to(torch.float32) / n)
        want = want.reshape(by_row.shape).movedim(0, row_dim)
        got = quantize_normalized(c, s, row_dim=row_dim)
        assert torch.equal(_bits(got), _bits(want)), row_dim


def test_input_is_not_modified():
    c = torch.tensor([[0.3, -0.7, 0.9, 0.1]])
    before = c.clone()
    _terms.term_quantize_rows(c, 2, 2, "binary", torch.float32, 7, prescale=7)
    q = torch.tensor([[3, -5, 6, 1]], dtype=torch.int32)
    _terms.term_quantize_rows(q, 2, 2, "binary", torch.int32)
    assert torch.equal(c, before) and q.tolist() == [[3, -5, 6, 1]]


def test_scaled_round_equals_round_then_divide():
    g = torch.Generator().manual_seed(7)
    c = torch.randn(5, 33, generator=g).clamp(-1, 1)
    c[0, :3] = torch.tensor([0.5 / 7, -1.5 / 7, 2.5 / 7])
    for n in (1, 7, 127, torch.tensor([[1.0], [3.0], [7.0], [15.0], [127.0]])):
        assert torch.equal(_bits(scaled_round(c, n)), _bits(torch.round(c * n) / n))


@pytest.mark.parametrize("kind,bits", [("pow2", 4), ("sp2", 5), ("fixed", 3)])
def test_cached_level_sets_round_as_the_level_set(kind, bits):
    g = torch.Generator().manual_seed(8)
    c = torch.rand(7, 40, generator=g) * 2 - 1
    lv = torch.as_tensor(levels(kind, bits), dtype=c.dtype)
    c[0, : lv.numel() - 1] = (lv[1:] + lv[:-1]) / 2  # exactly on the midpoints: ties
    for _ in range(2):  # built, then from the cache
        assert torch.equal(nearest_level(c, kind, bits), round_to_levels(c, lv))
    lv64 = torch.as_tensor(levels(kind, bits), dtype=torch.float64)  # a separate entry per dtype
    assert torch.equal(nearest_level(c.double(), kind, bits), round_to_levels(c.double(), lv64))


def test_level_cache_follows_a_re_registered_kind():
    def fmt(mags):
        return NumberFormat("cachetest", magnitudes=lambda bits: np.array(mags), weight_terms=lambda s: 1.0,
                            max_bits=2, doc="test")

    c = torch.tensor([0.3, 0.7, -0.8])
    register_format(fmt([0.0, 1.0]))
    try:
        assert nearest_level(c, "cachetest", 2).tolist() == [0.0, 1.0, -1.0]
    finally:
        unregister_format("cachetest")
    register_format(fmt([0.0, 0.25, 1.0]))
    try:
        assert nearest_level(c, "cachetest", 2).tolist() == [0.25, 1.0, -1.0]
    finally:
        unregister_format("cachetest")
