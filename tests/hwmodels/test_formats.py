import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.formats import KINDS, QuantScheme, levels, max_terms


@pytest.mark.parametrize("bits", range(2, 9))
def test_fixed_levels_are_the_uniform_grid(bits):
    n = 2 ** (bits - 1) - 1
    lv = levels("fixed", bits)
    assert len(lv) == 2 * n + 1
    np.testing.assert_allclose(lv, np.arange(-n, n + 1) / n)


@pytest.mark.parametrize("bits", range(2, 7))
def test_pow2_levels(bits):
    lv = levels("pow2", bits)
    mags = sorted({abs(v) for v in lv} - {0.0})
    assert mags == [2.0 ** -i for i in range(2 ** (bits - 1) - 2, -1, -1)]
    assert len(lv) == 2 * (2 ** (bits - 1) - 1) + 1


def test_sp2_levels_match_the_mix_and_match_example():
    assert levels("sp2", 4).tolist() == [-1, -0.75, -0.625, -0.5, -0.25, -0.125, 0, 0.125, 0.25, 0.5, 0.625, 0.75, 1]


def test_sp2_levels_for_other_widths_by_hand():
    # b=3: m1=1, m2=1 -> q1,q2 in {0, 1/2}: {0, 1/2, 1} -> rescaled {0, 1/2, 1}
    assert levels("sp2", 3).tolist() == [-1, -0.5, 0, 0.5, 1]
    # b=5: m1=2, m2=2 -> q in {0,1/2,1/4,1/8}; sums max 1 (=1/2+1/2)
    q = [0, 0.5, 0.25, 0.125]
    mags = sorted({a + b for a in q for b in q})
    assert levels("sp2", 5).tolist() == sorted({-m for m in mags} | set(mags))


@pytest.mark.parametrize("kind", ["fixed", "pow2", "sp2", "term"])
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
def test_levels_sorted_unique_signed_normalised(kind, bits):
    lv = levels(kind, bits)
    assert np.all(np.diff(lv) > 0)
    assert lv.max() == 1.0 and lv.min() == -1.0
    np.testing.assert_array_equal(lv, -lv[::-1])
    assert np.count_nonzero(lv == 0) == 1 and not np.signbit(lv[lv == 0]).any()


def test_levels_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        levels("float", 8)
    with pytest.raises(ValueError, match="bits"):
        levels("fixed", 1)
    with pytest.raises(ValueError, match="msq"):
        levels("msq", 4)
    with pytest.raises(ValueError, match="pow2"):
        levels("pow2", 8)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"kind": "float"}, "kind"),
        ({"w_bits": 1}, "w_bits"),
        ({"w_bits": 17}, "w_bits"),
        ({"w_bits": 4.0}, "w_bits"),
        ({"a_bits": 0}, "a_bits"),
        ({"granularity": "per_col"}, "granularity"),
        ({"kind": "term"}, "term_budget"),
        ({"kind": "term", "term_budget": 0}, "term_budget"),
        ({"kind": "term", "term_budget": 4, "group_size": 0}, "group_size"),
        ({"kind": "term", "term_budget": 4, "a_term_budget": 9, "a_bits": 8}, "a_term_budget"),
        ({"kind": "term", "term_budget": 4, "term_encoding": "gray"}, "term_encoding"),
        ({"kind": "fixed", "term_budget": 3}, "term_budget"),
        ({"kind": "fixed", "group_size": 4}, "group_size"),
        ({"kind": "sp2", "term_encoding": "csd"}, "term_encoding"),
        ({"kind": "msq"}, "sp2_fraction"),
        ({"kind": "msq", "sp2_fraction": 1.5}, "sp2_fraction"),
        ({"kind": "msq", "sp2_fraction": 0.5, "granularity": "per_tensor"}, "granularity"),
        ({"kind": "fixed", "sp2_fraction": 0.5}, "sp2_fraction"),
        ({"kind": "pow2", "w_bits": 7}, "w_bits"),
    ],
)
def test_impossible_schemes_name_the_field(fields, field):
    with pytest.raises(ValueError) as e:
        QuantScheme(**fields)
    assert str(e.value).startswith(field + ":")


schemes = st.one_of(
    st.builds(QuantScheme, kind=st.sampled_from(["fixed", "sp2"]), w_bits=st.integers(2, 16),
              a_bits=st.integers(2, 16), granularity=st.sampled_from(["per_tensor", "per_row"])),
    st.builds(lambda b, k, g, e: QuantScheme("term", w_bits=b, term_budget=k, group_size=g, term_encoding=e),
              st.integers(2, 16), st.integers(1, 64), st.integers(1, 32), st.sampled_from(["binary", "csd"])),
    st.builds(lambda b, f: QuantScheme("msq", w_bits=b, sp2_fraction=f), st.integers(2, 8), st.floats(0, 1)),
)


@given(schemes)
@settings(max_examples=200, deadline=None)
def test_scheme_json_round_trip(s):
    assert QuantScheme.from_dict(s.to_dict()) == s
    assert hash(QuantScheme.from_dict(s.to_dict())) == hash(s)


def test_from_dict_names_unknown_field():
    with pytest.raises(ValueError, match="^bits: unknown scheme field"):
        QuantScheme.from_dict({"kind": "fixed", "bits": 4})


def test_parse_short_form():
    assert QuantScheme.parse("fixed:4") == QuantScheme("fixed", 4)
    s = QuantScheme.parse("term:8,term_budget=12,group_size=4,term_encoding=csd")
    assert (s.term_budget, s.group_size, s.term_encoding) == (12, 4, "csd")
    assert QuantScheme.parse("msq:4").sp2_fraction == 0.5
    with pytest.raises(ValueError, match="scheme: bits"):
        QuantScheme.parse("fixed:x")


def test_max_terms():
    assert max_terms(8, "binary") == 7
    # 7-bit magnitudes: 85 = 1010101b has 4 nonzero NAF digits; NAF of any value < 128 needs <= 4
    assert max_terms(8, "csd") == 4
    assert max_terms(4, "csd") == 2  # 5 = 101b needs 2


def test_terms_per_value():
    assert QuantScheme("term", 8, term_budget=16, group_size=8).weight_terms_per_value == 2.0
    assert QuantScheme("fixed", 8).weight_terms_per_value == 7.0
    assert QuantScheme("sp2", 4).weight_terms_per_value == 2.0
    assert math.isclose(QuantScheme("msq", 4, sp2_fraction=0.25).weight_terms_per_value, 0.25 * 2 + 0.75 * 3)
    assert QuantScheme("term", 8, term_budget=2, a_term_budget=3).act_terms_per_value == 3.0


def test_all_kinds_constructible():
    for kind in KINDS:
        extra = {"term": {"term_budget": 3}, "msq": {"sp2_fraction": 0.5}}.get(kind, {})
        QuantScheme(kind, 4, **extra)
