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


# --- every computation path against the reference, on random and adversarial groups ---

from dse.quant import terms as _terms  # noqa: E402  (internal paths, to check each is covered)


def _path(top: int, group: int, encoding: str) -> str:
    """Which method term_quantize uses for values up to |top| in groups of ``group``."""
    vbits = top.bit_length()
    if vbits > _terms._TABLE_MAX_BITS:
        return "per-plane"
    if group == 1:
        return "per-value table"
    _, _, n_pos, max_terms = _terms._value_tables(vbits, encoding, "cpu")
    w, swar, per_word = _terms._table_mode(n_pos, max_terms, group)
    return "packed" if swar else ("unpacked" if n_pos <= per_word else "unpacked, several words")


PATH_CASES = [(127, 1), (127, 3), (127, 16), (127, 40), (255, 200), (32767, 16), (65535, 33), (2**20, 5),
              (2**40, 16)]


def _adversarial_rows(top: int, group: int, encoding: str, rng) -> np.ndarray:
    n = 3 * group + 1  # a short last group too
    most_terms = int("01" * 32, 2) & top if encoding == "csd" else top  # CSD: 0b0101.. has the most terms
    rows = [
        rng.integers(-top, top + 1, size=n),  # random
        np.zeros(n, dtype=np.int64),  # all-zero groups
        np.full(n, top),  # ties everywhere: same value, same terms
        np.where(np.arange(n) % 2 == 0, most_terms, -most_terms),  # most terms per value, alternating sign
        np.where(rng.random(n) < 0.5, 0, rng.integers(-top, top + 1, size=n)),  # sparse
        np.full(n, -(1 << (top.bit_length() - 1))),  # one term each, all in the same plane: pure tie order
    ]
    return np.stack(rows).astype(np.int64)


@pytest.mark.parametrize("encoding", ["binary", "csd"])
@pytest.mark.parametrize("top,group", PATH_CASES)
def test_every_path_matches_reference(top, group, encoding):
    rng = np.random.default_rng(top % 1000 + group)
    a = _adversarial_rows(top, group, encoding, rng)
    per_group_terms = sorted({int(count_terms(a[:, i:i + group], encoding).sum(1).max())
                              for i in range(0, a.shape[1], group)})
    # budgets below, at and above a group's term count, and far above anything
    budgets = sorted({0, 1, 2, group, group + 1, 3 * group, 10**6}
                     | {t + d for t in per_group_terms for d in (-1, 0, 1) if t + d >= 0})
    for k in budgets:
        got = term_quantize(a, k, group, encoding)
        for row, got_row in zip(a, got):
            assert got_row.tolist() == ref_term_quantize(row.tolist(), k, group, encoding), (k, row[:8])


def test_path_cases_cover_every_method():
    paths = {_path(top, g, enc) for top, g in PATH_CASES for enc in ("binary", "csd")}
    assert paths == {"per-value table", "packed", "unpacked", "unpacked, several words", "per-plane"}


@pytest.mark.parametrize("encoding", ["binary", "csd"])
@pytest.mark.parametrize("group", [1, 4, 16, 64])
def test_per_row_budgets(group, encoding):
    rng = np.random.default_rng(group)
    a = rng.integers(-127, 128, size=(6, 3 * group + 1))
    a[2] = 0  # an all-zero row
    a[3] = 85  # ties, 4 CSD terms each
    a[4] = 85 if encoding == "csd" else 127  # every value with the most terms: budget far above them
    budgets = np.array([0, 1, 5, 2 * group, 10**6, 3])
    got = term_quantize(a, budgets, group, encoding)
    for row, k, got_row in zip(a, budgets, got):
        assert got_row.tolist() == ref_term_quantize(row.tolist(), int(k), group, encoding)
    # rows on axis 0 of a 3-D tensor, groups along the last axis or axis 1; same container back
    t = torch.tensor(rng.integers(-127, 128, size=(3, 4, 2 * group)), dtype=torch.float32)
    for dim in (-1, 1):
        got_t = term_quantize(t, torch.tensor([2, 0, 7]), group, encoding, dim=dim)
        assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
        for i, k in enumerate([2, 0, 7]):
            np.testing.assert_array_equal(got_t[i].numpy(), term_quantize(t[i].numpy(), k, group, encoding,
                                                                          dim=-1 if dim == -1 else 0))


def test_per_row_budgets_rejected_when_they_do_not_match():
    a = np.zeros((3, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="per-row budgets"):
        term_quantize(a, [1, 2], 4)
    with pytest.raises(ValueError, match="per-row budgets"):
        term_quantize(a, [1, 2, 3], 4, dim=0)
    with pytest.raises(ValueError, match="per-row budgets"):
        term_quantize(np.zeros(8), [1] * 8, 4)
    with pytest.raises(ValueError, match=">= 0"):
        term_quantize(a, [1, -2, 3], 4)


@pytest.mark.parametrize("encoding", ["binary", "csd"])
def test_table_method_matches_per_plane_method_on_a_weight_tensor(encoding):
    """The fast method against the per-plane one (an independent algorithm) on a conv
    weight's worth of values, every budget from 0 past the group's most terms."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(32, 576, generator=g)
    q = torch.round(w / w.abs().max() * 127).to(torch.int64)
    for k in list(range(0, 40)) + list(range(40, 16 * 7 + 2, 9)):
        fast = _terms.term_quantize_rows(q, k, 16, encoding, torch.int64)
        slow = _terms._plane_rows(q, k, 16, encoding)
        assert torch.equal(fast, slow), k


def test_divided_result_is_bit_identical_to_dividing_after():
    """fake quantization reads kept / n straight from the table: same float32 bits."""
    g = torch.Generator().manual_seed(4)
    q = torch.round(torch.randn(32, 100, generator=g).clamp(-1, 1) * 127)
    for group, k in [(1, 2), (16, 9), (5, 3)]:
        direct = _terms.term_quantize_rows(q, k, group, "csd", torch.float32, 127)
        after = term_quantize(q, k, group, "csd") / 127
        assert torch.equal(direct.view(torch.int32), after.view(torch.int32))


def test_edge_inputs_keep_type_and_are_not_modified():
    assert term_quantize(np.array([], dtype=np.int64), 2, 4).shape == (0,)
    assert term_quantize(np.zeros((3, 0)), 2, 4).shape == (3, 0)
    assert term_quantize(np.array([True, False, True]), 1, 2).tolist() == [True, False, True]
    t = torch.tensor([[3, 5, 6, 7], [9, 10, 11, 12]], dtype=torch.int32)
    view = t[:, ::2]  # non-contiguous int32: used as it is, never shifted in place
    got = term_quantize(view, 1, 2)
    assert got.dtype == torch.int32 and got.tolist() == [[0, 4], [8, 0]]
    assert t.tolist() == [[3, 5, 6, 7], [9, 10, 11, 12]]
    assert term_quantize(torch.tensor(7.0), 2).item() == 6.0
