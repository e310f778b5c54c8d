import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.pareto import hypervolume, hypervolume_history, pareto_mask, to_minimization


def brute_mask(v):
    n = len(v)
    return np.array([not any(np.all(v[j] <= v[i]) and np.any(v[j] < v[i]) for j in range(n)) for i in range(n)])


def mc_free_hv(points, ref, grid=24):
    """Hypervolume on a regular grid (exact for points on the grid)."""
    d = points.shape[1]
    axes = [np.arange(grid) + 0.5 for _ in range(d)]
    cells = np.array(list(itertools.product(*axes)))
    covered = np.zeros(len(cells), dtype=bool)
    for p in points:
        covered |= np.all(cells >= p, axis=1) & np.all(cells <= ref, axis=1)
    return covered.sum()


pts = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=12)


@given(pts)
@settings(max_examples=150, deadline=None)
def test_pareto_mask_matches_brute_force(p):
    v = np.array(p, dtype=float)
    np.testing.assert_array_equal(pareto_mask(v), brute_mask(v))


@given(pts)
@settings(max_examples=80, deadline=None)
def test_hypervolume_3d_matches_grid_count(p):
    v = np.array(p, dtype=float)
    ref = np.array([24.0, 24.0, 24.0])
    assert hypervolume(v, ref) == mc_free_hv(v, ref)


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=15))
@settings(max_examples=100, deadline=None)
def test_hypervolume_2d_matches_grid_count(p):
    v = np.array(p, dtype=float)
    assert hypervolume(v, np.array([24.0, 24.0])) == mc_free_hv(v, np.array([24.0, 24.0]))


def test_hand_example_and_history():
    v = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    ref = np.array([4.0, 4.0])
    assert hypervolume(v, ref) == 3 + 2 + 1  # staircase: 1x3 + 1x2 + 1x1
    assert hypervolume_history(v, ref).tolist() == [3.0, 5.0, 6.0, 6.0]
    assert pareto_mask(v).tolist() == [True, True, True, False]


def test_to_minimization_flips_maximized():
    v = to_minimization(np.array([[0.9, 1e-3]]), ["maximize", "minimize"])
    assert v.tolist() == [[-0.9, 1e-3]]


def test_pareto_mask_equals_the_all_pairs_definition():
    """The one-pass mask == the definition (all pairs), with ties, duplicates, inf and NaN."""
    import numpy as np

    from dse.study.pareto import pareto_mask

    def brute(v):
        le = np.all(v[None, :, :] <= v[:, None, :], axis=2)
        lt = np.any(v[None, :, :] < v[:, None, :], axis=2)
        return ~np.any(le & lt, axis=1)

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, m = int(rng.integers(1, 60)), int(rng.integers(1, 5))
        v = rng.integers(0, 6, size=(n, m)).astype(float)  # many ties and duplicates
        if trial % 3 == 0:
            v[rng.random((n, m)) < 0.05] = np.inf
        if trial % 5 == 0:
            v[rng.random((n, m)) < 0.05] = np.nan
        assert pareto_mask(v).tolist() == brute(v).tolist(), v
    v = rng.random((2000, 3))
    assert pareto_mask(v).tolist() == brute(v).tolist()
