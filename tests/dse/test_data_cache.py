"""MNIST-1D's generated data set and the digits split are kept in a derived-data cache (issue 13:
every worker process regenerated them, 1-2 s of CPU): the cached arrays are the generator's, bit for bit; a damaged file is
regenerated; ``DSE_DATA_CACHE=0`` writes nothing; a warm cache does not import the generator."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from dse.workloads import datacache, digits, mnist1d


def _generator_tensors(n: int, seed: int):
    """What generate() returned before the cache: the package's arrays through torch.tensor."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = n, seed
    py, npst = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py)
        np.random.set_state(npst)
    return [torch.tensor(d[k], dtype=torch.float32).unsqueeze(1) if k.startswith("x") else torch.tensor(d[k], dtype=torch.long)
            for k in ("x", "y", "x_test", "y_test")]


def _fresh(n: int, seed: int):
    mnist1d.generate.cache_clear()
    (x, y), (xt, yt) = (lambda t, v: ((t.x, t.y), (v.x, v.y)))(*mnist1d.generate(n, seed))
    return [x, y, xt, yt]


def test_cached_data_equals_the_generator_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_DATA_CACHE", str(tmp_path))
    want = _generator_tensors(300, 7)
    first = _fresh(300, 7)  # generated, then written
    files = list(tmp_path.glob("mnist1d-n300-seed7-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    second = _fresh(300, 7)  # read back
    for a, b, c in zip(want, first, second):
        assert a.dtype == b.dtype == c.dtype and a.shape == b.shape == c.shape
        assert torch.equal(a, b) and torch.equal(a, c)
    other = _fresh(300, 8)  # another seed is another file, other data
    assert len(list(tmp_path.glob("*.npz"))) == 2 and not torch.equal(other[0], first[0])


def test_damaged_cache_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_DATA_CACHE", str(tmp_path))
    want = _fresh(200, 3)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # truncated
    got = _fresh(200, 3)
    assert all(torch.equal(a, b) for a, b in zip(want, got))
    assert np.load(path)["x"].shape == (160, 40)  # rewritten whole


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_DATA_CACHE", "0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _fresh(150, 1)
    assert datacache.data_cache_dir() is None and not any(tmp_path.rglob("*"))


def test_warm_cache_skips_the_generator_import(tmp_path):
    env = {**os.environ, "DSE_DATA_CACHE": str(tmp_path)}
    code = ("import sys; from dse.workloads.mnist1d import generate; t, v = generate(250, 5); "
            "print('mnist1d.data' in sys.modules, tuple(t.x.shape), tuple(v.x.shape))")
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert cold.split() == ["True", "(200,", "1,", "40)", "(50,", "1,", "40)"]
    assert warm.split() == ["False", "(200,", "1,", "40)", "(50,", "1,", "40)"]


def _digits_before_the_cache(split_seed: int, val_fraction: float):
    """digits._split as it was: scikit-learn's arrays, normalised and split in torch."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1) - 0.5) / 0.5
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.as_tensor(np.random.default_rng(split_seed).permutation(len(y)))
    n_val = int(round(len(y) * val_fraction))
    return [x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]]


def test_digits_split_cached_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_DATA_CACHE", str(tmp_path))
    want = _digits_before_the_cache(3, 0.25)
    got = []
    for _ in range(2):  # written, then read back
        digits._split.cache_clear()
        train, val = digits._split(3, 0.25)
        got.append([train.x, train.y, val.x, val.y])
    assert len(list(tmp_path.glob("digits-split3-*.npz"))) == 1
    for a, b, c in zip(want, *got):
        assert a.dtype == b.dtype == c.dtype and torch.equal(a, b) and torch.equal(a, c)
    digits._split.cache_clear()
    assert digits._split(3, 0.2)[1].x.shape[0] == 359  # another fraction: another file
    assert len(list(tmp_path.glob("digits-split3-*.npz"))) == 2


def test_warm_digits_cache_skips_scikit_learn(tmp_path):
    env = {**os.environ, "DSE_DATA_CACHE": str(tmp_path)}
    code = ("import sys; from dse.workloads.digits import _split; t, v = _split(0, 0.2); "
            "print('sklearn' in sys.modules, tuple(t.x.shape))")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert [r.split()[0] for r in runs] == ["True", "False"] and runs[0].split()[1:] == runs[1].split()[1:]


@pytest.mark.parametrize("name", ["digits", "mnist1d", "resnet18"])
def test_traced_shapes_do_not_depend_on_the_device(name):
    """Small models are traced on the CPU (no torch._dynamo import at start-up), large ones on the
    meta device: either way the same layers."""
    from dse.workloads.bundle import SMALL_MODEL_PARAMS, _to_meta
    from dse.workloads.registry import get_workload
    from dse.workloads.trace import trace_workload

    bundle = get_workload(name)
    with torch.device("meta"):
        model = bundle.build_model()
    big = sum(p.numel() for p in model.parameters()) > SMALL_MODEL_PARAMS
    assert big == (name == "resnet18")
    assert bundle.spec == trace_workload(model, _to_meta(bundle.example_input), name=bundle.name)
