"""The fused C kernel for term quantization (dse/quant/native/terms.c) gives the torch path's
results bit for bit, and both give a slow, obviously-correct greedy reference's integers:
random and adversarial groups (ties, all-zero groups, most terms per value, one plane only),
budgets below, at and above a group's term count, per-row budgets, both encodings, groups of
1..64 with short last groups, 2..12 bits, every input dtype the kernel reads. And the kernel
is really used on this machine: a test fails if it silently falls back to torch."""

import shutil

import numpy as np
import pytest
import torch

from dse.quant import QuantScheme, native, quantize_normalized, term_quantize
from dse.quant import terms as _terms
from dse.quant.fake import ActQuantizer, fake_quantize

HAVE_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None


def ref_terms(v: int, encoding: str) -> list[tuple[int, int]]:
    """(exponent, digit) terms of |v|, largest first (binary bits, or textbook NAF)."""
    x, p, out = abs(v), 0, []
    while x:
        if x % 2:
            d = 1 if encoding == "binary" else 2 - (x % 4)
            x -= d
            out.append((p, d))
        x //= 2
        p += 1
    return sorted(out, reverse=True)


def ref_rows(rows: np.ndarray, budgets, group: int, encoding: str) -> np.ndarray:
    """Greedy per group: keep the value whose next term is largest (ties: lowest index)."""
    out = np.zeros_like(rows)
    for r, (row, k) in enumerate(zip(rows.tolist(), budgets)):
        for start in range(0, len(row), group):
            grp = row[start:start + group]
            left = [ref_terms(v, encoding) for v in grp]
            kept = [0] * len(grp)
            for _ in range(k):
                best = None
                for i, t in enumerate(left):
                    if t and (best is None or t[0][0] > left[best][0][0]):
                        best = i
                if best is None:
                    break
                p, d = left[best].pop(0)
                kept[best] += d << p
            out[r, start:start + len(grp)] = [kv if v >= 0 else -kv for kv, v in zip(kept, grp)]
    return out


@pytest.fixture
def lib():
    """The compiled kernel; the test is skipped only where there is no C compiler at all."""
    if not HAVE_CC:
        pytest.skip("no C compiler on this machine")
    if not native.enabled():
        pytest.skip("DSE_NATIVE=0 forces the torch paths")
    got = _terms._native()
    assert got is not None, "terms.c did not compile or load: term quantization silently runs on torch"
    return got


def both_paths(monkeypatch, fn):
    """fn() with the kernel, then with the torch path forced."""
    native_res = fn()
    with monkeypatch.context() as m:
        m.setattr(_terms, "_lib", None)
        torch_res = fn()
    return native_res, torch_res


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))


@pytest.fixture
def used(monkeypatch, lib):
    """Counts the calls answered by the kernel while it is enabled (a None from it means the
    torch path ran; calls with the torch path forced by ``both_paths`` are not counted)."""
    calls = {"native": 0, "fallback": 0}
    for name in ("_native_groups", "_native_values"):
        orig = getattr(_terms, name)

        def spy(*args, _orig=orig, **kwargs):
            res = _orig(*args, **kwargs)
            if _terms._lib is not None:
                calls["native" if res is not None else "fallback"] += 1
            return res

        monkeypatch.setattr(_terms, name, spy)
    return calls


def adversarial(top: int, n: int, rng, encoding: str) -> np.ndarray:
    most = int("01" * 16, 2) & top if encoding == "csd" else top  # CSD: 0b0101.. has the most terms
    return np.stack([
        rng.integers(-top, top + 1, size=n),  # random, negative values included
        np.zeros(n, dtype=np.int64),  # all-zero groups
        np.full(n, top),  # ties everywhere
        np.where(np.arange(n) % 2 == 0, most, -most),  # most terms per value, alternating sign
        np.where(rng.random(n) < 0.6, 0, rng.integers(-top, top + 1, size=n)),  # sparse
        np.full(n, -(1 << (top.bit_length() - 1))),  # one term each, all in one plane: tie order only
    ]).astype(np.int64)


GROUPS = [1, 2, 3, 4, 5, 16, 17, 64]


@pytest.mark.parametrize("encoding", ["binary", "csd"])
@pytest.mark.parametrize("bits", [2, 3, 5, 8, 12])
def test_native_equals_torch_equals_reference(monkeypatch, used, bits, encoding):
    rng = np.random.default_rng(bits * 7 + len(encoding))
    top = 2 ** (bits - 1) - 1
    for g in GROUPS:
        a = adversarial(top, 2 * g + (g + 1) // 2 if g > 1 else 7, rng, encoding)  # short last group
        counts = {sum(len(ref_terms(v, encoding)) for v in row[i:i + g])
                  for row in a.tolist() for i in range(0, len(row), g)}
        budgets = sorted({0, 1, 2, g, 3 * g, 10**6} | {c + d for c in counts for d in (-1, 0, 1) if c + d >= 0})
        per_row = torch.tensor(rng.choice(sorted(budgets), size=len(a)))
        for k in budgets + [per_row]:
            ks = per_row.tolist() if isinstance(k, torch.Tensor) else [k] * len(a)
            want = ref_rows(a, ks, g, encoding)
            for dtype in (torch.int64, torch.int32, torch.float32, torch.float64):
                x = torch.tensor(a, dtype=dtype)
                nat, tor = both_paths(monkeypatch, lambda: _terms.term_quantize_rows(x, k, g, encoding, dtype))
                assert same_bits(nat, tor), (g, k, dtype)
                assert np.array_equal(nat.numpy().astype(np.int64), want), (g, k, dtype)
    assert used["native"] > 0 and used["fallback"] == 0


@pytest.mark.parametrize("encoding", ["binary", "csd"])
def test_long_rows_of_small_groups(monkeypatch, used, encoding):
    """Rows long enough for the kernel's lanes (16 groups of up to 8 values at once) and its
    block loop, up to 16-bit values (more planes than one prefix step covers)."""
    rng = np.random.default_rng(13)
    for bits, g in [(3, 1), (8, 2), (8, 3), (8, 4), (9, 5), (12, 8), (16, 4), (16, 9)]:
        top = 2 ** (bits - 1) - 1 if bits < 16 else 2**16 - 1
        a = rng.integers(-top, top + 1, size=(3, 16 * 9 * g + 5))
        a[1, ::3] = 0
        for k in (0, 1, 3, g, 3 * g + 1, torch.tensor([2, 0, 10**6])):
            x = torch.tensor(a, dtype=torch.float32)
            nat, tor = both_paths(monkeypatch, lambda: _terms.term_quantize_rows(x, k, g, encoding, torch.float32))
            assert same_bits(nat, tor), (bits, g, k)
        want = ref_rows(a[:, :200], [5] * 3, g, encoding)
        assert np.array_equal(term_quantize(a[:, :200], 5, g, encoding), want), (bits, g)
    assert used["native"] > 0 and used["fallback"] == 0


@pytest.mark.parametrize("encoding", ["binary", "csd"])
def test_prescaled_floats_divided_results_are_bit_identical(monkeypatch, used, encoding):
    """The weight path: round(c * n) inside the kernel (half to even, ties included), the
    result read already divided by n: the torch path's float32/float64 bits, per-row
    budgets and short groups included, and the reference's integers."""
    g = torch.Generator().manual_seed(11)
    for bits in (2, 4, 6, 8, 11):
        n = 2 ** (bits - 1) - 1
        c = (torch.randn(7, 53, generator=g) / 2.5).clamp(-1, 1)
        c[0, :8] = (torch.tensor([0.5, -0.5, 1.5, -2.5, 0.0, -0.0, 1.0, -1.0]) / n).clamp(-1, 1)  # ties, zeros
        c[1] = 0.0
        per_row = torch.randint(0, 3 * 16, (7,), generator=g)
        for group, budget in [(1, 1), (1, 3), (4, 3), (5, 7), (16, 9), (16, 0), (64, 40), (16, per_row), (1, per_row)]:
            for dtype in (torch.float32, torch.float64):
                x = c.to(dtype)
                nat, tor = both_paths(monkeypatch, lambda: _terms.term_quantize_rows(
                    x, budget, group, encoding, dtype, n, prescale=n))
                assert same_bits(nat, tor), (bits, group, budget, dtype)
                ks = budget.tolist() if isinstance(budget, torch.Tensor) else [budget] * 7
                want = ref_rows(torch.round(x * n).to(torch.int64).numpy(), ks, group, encoding)
                assert torch.equal(nat, torch.tensor(want, dtype=dtype) / n), (bits, group, budget)
    assert used["native"] > 0 and used["fallback"] == 0


def test_public_function_and_quantizers_use_the_kernel(monkeypatch, used):
    """term_quantize (numpy and torch, any dim, non-contiguous input), the term weight format
    and activation terms (ActQuantizer, fake_quantize): same bits as the torch path."""
    rng = np.random.default_rng(3)
    a = rng.integers(-127, 128, size=(6, 5, 24))
    for dim in (0, 1, 2):
        nat, tor = both_paths(monkeypatch, lambda: torch.from_numpy(term_quantize(a, 5, 4, "csd", dim=dim)))
        assert same_bits(nat, tor), dim
    t = torch.tensor(a, dtype=torch.float32)[:, :, ::2]  # non-contiguous
    nat, tor = both_paths(monkeypatch, lambda: term_quantize(t, torch.tensor([0, 1, 2, 3, 40, 9]), 3, "binary"))
    assert same_bits(nat, tor)

    g = torch.Generator().manual_seed(5)
    w = torch.randn(16, 8, 3, 3, generator=g)
    c = w / w.abs().max()
    for scheme in (QuantScheme("term", 8, term_budget=12, group_size=4),
                   QuantScheme("term", 6, term_budget=20, group_size=16, term_encoding="csd"),
                   QuantScheme("term", 8, term_budget=3, group_size=1)):
        for row_dim in (0, 1):
            nat, tor = both_paths(monkeypatch, lambda: quantize_normalized(c, scheme, row_dim=row_dim))
            assert same_bits(nat, tor), (scheme, row_dim)

    act_scheme = QuantScheme("term", 8, term_budget=12, group_size=4, a_bits=8, a_term_budget=3)
    x = torch.randn(4, 8, 5, 5, generator=g)
    nat, tor = both_paths(monkeypatch, lambda: fake_quantize(x, act_scheme, role="act"))
    assert same_bits(nat, tor)
    torch.manual_seed(0)
    aq = ActQuantizer(act_scheme)
    aq(x)  # initialises the clip (same for both paths: the clip is chosen by MSE on the values)
    nat, tor = both_paths(monkeypatch, lambda: aq(x).detach())
    assert same_bits(nat, tor)
    assert used["native"] > 0 and used["fallback"] == 0


def test_falls_back_where_the_kernel_does_not_apply(monkeypatch, used):
    """int16 input and values >= 2**16 take the torch paths (same results as ever)."""
    a = np.array([[3, -5, 6, 7, 0, 9]], dtype=np.int16)
    assert term_quantize(a, 2, 3).tolist() == ref_rows(a.astype(np.int64), [2], 3, "binary").tolist()
    assert used["native"] == 0
    big = np.array([[2**20 + 5, -(2**17) - 3, 7, 1]])
    assert term_quantize(big, 3, 2).tolist() == ref_rows(big, [3], 2, "binary").tolist()
    assert used["native"] == 0 and used["fallback"] == 1  # (int16: asked, declined; 2**20: never asked)


def test_kernel_refuses_values_outside_its_table(lib):
    """A value beyond the tables the caller sized (or a NaN) makes the kernel return an error
    (the caller then takes the torch path) instead of reading outside the tables; within
    them it reports the range of values it met."""
    seen = []
    ok = torch.tensor([[1, -6, 5, 3, 0]], dtype=torch.int32)
    assert _terms._native_groups(ok, 2, 4, 3, "binary", torch.int32, None, None, seen) is not None
    assert seen == [-6, 5]
    table = _terms._per_value_table(3, "binary", 2, torch.float32, "cpu", None)
    for bad in (torch.tensor([[1, 8, 0]], dtype=torch.int32), torch.tensor([[-9, 0]], dtype=torch.int64),
                torch.tensor([[0.0, float("nan")]]), torch.tensor([[0.2, 0.9]]), torch.tensor([[1e30, 0.0]]),
                torch.tensor([[0.0, -0.76]], dtype=torch.float64)):
        prescale = 10 if bad.dtype.is_floating_point and bad.abs().max() < 1 else None
        assert _terms._native_groups(bad, 2, 4, 3, "binary", torch.float32, None, prescale) is None, bad
        assert _terms._native_values(bad, table, 7, prescale) is None, bad


def test_weights_beyond_the_prescale_bound_take_the_general_path(monkeypatch, used):
    """The weight path sizes its tables from the prescale (|round(c * n)| <= n for c in
    [-1, 1]); values beyond it, and budgets covering every term of the values' real range
    (where the general path keeps a rounded -0.0), give the general path's bits."""
    g = torch.Generator().manual_seed(12)
    c = torch.randn(6, 40, generator=g)  # not normalised: up to ~3x the bound
    c[0, :4] = torch.tensor([-0.001, -0.0, 0.001, 0.0])  # round to -0.0 / 0.0
    small = c / c.abs().max() / 8  # normalised well inside the bound: 4 bits of 7 used
    for x in (c, small):
        for group, budget in [(4, 3), (4, 4 * 4), (4, 4 * 7), (16, 10**6), (1, 2), (16, 0), (16, torch.arange(6))]:
            nat, tor = both_paths(monkeypatch, lambda: _terms.term_quantize_rows(
                x, budget, group, "binary", torch.float32, 127, prescale=127))
            assert same_bits(nat, tor), (group, budget)
    assert used["native"] > 0


def test_integral_check_matches_torch(monkeypatch, lib):
    """term_quantize's "integers only" check in one C pass: same answers as t == round(t),
    and (integral input) the same min and max as torch.aminmax, which it then replaces."""
    cases = [[1.0, 2.0, -0.0], [0.5], [3.0, -2.5], [float("nan")], [float("inf"), 3.0], [-1e30, 4.0], [2.0**24 + 1],
             [-7.0, 3.0, -8.0, 0.0], []]
    for vals in cases:
        for dtype in (torch.float32, torch.float64):
            t = torch.tensor(vals, dtype=dtype)
            (nat, rng), (tor, none) = both_paths(monkeypatch, lambda: _terms._integral(t))
            assert nat == tor == torch.equal(t, torch.round(t)) and none is None, (vals, dtype)
            if nat and vals:
                assert rng == tuple(float(v) for v in torch.aminmax(t)), (vals, dtype)
    with pytest.raises(ValueError, match="integer"):
        term_quantize(torch.tensor([[1.0, 2.5, 3.0]]), [1], 2)
