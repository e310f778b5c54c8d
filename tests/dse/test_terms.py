"""Term quantization against a slow, obviously-correct reference."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.quant import count_terms, term_quantize


def ref_terms(v: int, encoding: str) -> list[tuple[int, int]]:
    """(exponent, digit) terms of |v|, largest first."""
    x = abs(v)
    out = []
    if encoding == "binary":
        p = 0
        while x:
            if x & 1:
                out.append((p, 1))
            x >>= 1
            p += 1
    else:  # textbook NAF: digit = 2 - (x mod 4) when x is odd
        p = 0
        while x:
            if x % 2:
                d = 2 - (x % 4)
                x -= d
                out.append((p, d))
            x //= 2
            p += 1
    return sorted(out, reverse=True)


def ref_term_quantize(values: list[int], budget: int, group: int, encoding: str) -> list[int]:
    out = []
    for start in range(0, len(values), group):
        grp = values[start:start + group]
        remaining = [ref_terms(v, encoding) for v in grp]
        kept = [0] * len(grp)
        for _ in range(budget):
            best = None
            for i, terms in enumerate(remaining):  # greedy: largest next term, lowest index
                if terms and (best is None or terms[0][0] > remaining[best][0][0]):
                    best = i
            if best is None:
                break
            p, d = remaining[best].pop(0)
            kept[best] += d * (1 << p)
        out.extend(k if v >= 0 else -k for k, v in zip(kept, grp))
    return out


ints = st.lists(st.integers(-(2**12), 2**12), min_size=1, max_size=40)


@given(ints, st.integers(0, 30), st.integers(1, 9), st.sampled_from(["binary", "csd"]))
@settings(max_examples=400, deadline=None)
def test_matches_reference(values, budget, group, encoding):
    got = term_quantize(np.array(values, dtype=np.int64), budget, group, encoding)
    assert got.tolist() == ref_term_quantize(values, budget, group, encoding)


@given(ints, st.integers(1, 9), st.sampled_from(["binary", "csd"]))
@settings(max_examples=200, deadline=None)
def test_budget_covering_all_terms_is_exact(values, group, encoding):
    a = np.array(values)
    total = int(count_terms(a, encoding).sum())
    np.testing.assert_array_equal(term_quantize(a, total, group, encoding), a)


def kept_terms(values, budget, group, encoding):
    """Set of (value index, exponent, digit) kept, derived from the results' own terms."""
    res = term_quantize(np.array(values), budget, group, encoding)
    full = [ref_terms(v, encoding) for v in values]
    out = set()
    for i, r in enumerate(res.tolist()):
        # result terms are a prefix of the value's terms (largest first)
        acc = 0
        for p, d in full[i]:
            if acc == abs(r):
                break
            acc += d * (1 << p)
            out.add((i, p, d))
        assert acc == abs(r)
    return out


@given(ints, st.integers(0, 20), st.integers(1, 8), st.sampled_from(["binary", "csd"]))
@settings(max_examples=200, deadline=None)
def test_terms_nest_across_budgets(values, budget, group, encoding):
    small = kept_terms(values, budget, group, encoding)
    large = kept_terms(values, budget + 1, group, encoding)
    assert small <= large
    n_groups = -(-len(values) // group)
    assert len(large) - len(small) <= n_groups  # one more term per group at most


@given(ints, st.integers(0, 6))
@settings(max_examples=100, deadline=None)
def test_group_size_one_is_a_per_value_budget(values, budget):
    got = term_quantize(np.array(values), budget, 1)
    for v, r in zip(values, got.tolist()):
        expect = sum(d << p for p, d in ref_terms(v, "binary")[:budget])
        assert r == (expect if v >= 0 else -expect)


def test_hand_examples():
    # 7 = 4+2+1, -5 = -(4+1), 3 = 2+1, 12 = 8+4; group of 4, budget 3 -> 8 (from 12), 4 (7), -4 (-5)
    assert term_quantize(np.array([7, -5, 3, 12]), 3, 4).tolist() == [4, -4, 0, 8]
    # CSD: 7 = 8 - 1; budget 1 per value keeps 8
    assert term_quantize(np.array([7]), 1, 1, "csd").tolist() == [8]
    # ties go to the lowest index: two 4s, budget 1
    assert term_quantize(np.array([4, 4]), 1, 2).tolist() == [4, 0]
    # short last group: [6, 5 | 3], budget 1 -> 4, 0 | 2
    assert term_quantize(np.array([6, 5, 3]), 1, 2).tolist() == [4, 0, 2]


def test_dim_and_types_preserved():
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, size=(3, 5, 7))
    for dim in range(3):
        got = term_quantize(a, 2, 3, dim=dim)
        moved = np.moveaxis(a, dim, -1)
        expect = np.array([ref_term_quantize(row.tolist(), 2, 3, "binary") for row in moved.reshape(-1, moved.shape[-1])])
        np.testing.assert_array_equal(np.moveaxis(got, dim, -1).reshape(expect.shape), expect)
        assert isinstance(got, np.ndarray) and got.dtype == a.dtype
    t = torch.tensor(a, dtype=torch.float32)
    got_t = term_quantize(t, 2, 3, dim=1)
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
    np.testing.assert_array_equal(got_t.numpy(), term_quantize(a, 2, 3, dim=1))


def test_csd_digits_are_non_adjacent_and_minimal():
    vals = np.arange(0, 4096)
    csd = count_terms(vals, "csd")
    binary = count_terms(vals, "binary")
    assert np.all(csd <= binary)
    for v in [3, 7, 15, 23, 85, 1023, 2731]:
        ps = [p for p, _ in ref_terms(v, "csd")]
        assert all(a - b >= 2 for a, b in zip(ps, ps[1:]))
        assert int(count_terms(np.array([v]), "csd")[0]) == len(ps)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="budget"):
        term_quantize(np.array([1]), -1)
    with pytest.raises(ValueError, match="group_size"):
        term_quantize(np.array([1]), 1, 0)
    with pytest.raises(ValueError, match="encoding"):
        term_quantize(np.array([1]), 1, 1, "gray")
    with pytest.raises(ValueError, match="integer"):
        term_quantize(torch.tensor([0.5]), 1)


@given(st.lists(st.integers(-(2**15), 2**15), min_size=1, max_size=40), st.integers(0, 8))
@settings(max_examples=100, deadline=None)
def test_float_per_value_fast_path_matches_reference(values, budget):
    got = term_quantize(torch.tensor(values, dtype=torch.float32), budget, 1)
    assert got.dtype == torch.float32
    assert got.long().tolist() == ref_term_quantize(values, budget, 1, "binary")
