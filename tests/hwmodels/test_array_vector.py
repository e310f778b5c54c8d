"""Layers priced together (hwmodels.array_vector) give exactly what pricing them one by
one (array_layer_cost's price_parts) gives; the memos behind a new point stay bounded."""

from __future__ import annotations

import random

import pytest

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Unsupported, Workload, get_model
from hwmodels import array_core, array_layer, array_vector
from hwmodels.array_layer import ArrayConfig, array_layer_cost
from hwmodels.energy import EnergyModel


def random_layer(rng: random.Random, i: int) -> LayerSpec:
    kind = rng.choice(["conv", "conv", "depthwise", "grouped", "linear", "gemm"])
    if kind == "linear":
        return LayerSpec.linear(f"l{i}", rng.choice([16, 100, 512, 4096]), rng.choice([10, 64, 1000]),
                                batch=rng.choice([1, 4]))
    if kind == "gemm":
        return LayerSpec.gemm(f"l{i}", rng.randint(1, 300), rng.randint(1, 700), rng.randint(1, 300))
    size, filt, stride = rng.choice([7, 14, 28, 56, 112]), rng.choice([1, 3, 5, 7]), rng.choice([1, 2, 3])
    cin = rng.choice([3, 8, 16, 64, 256])
    if kind == "depthwise":
        return LayerSpec.conv(f"l{i}", size, size, 3, 3, cin, cin, stride=stride, padding=1, groups=cin)
    groups = rng.choice([2, 4]) if kind == "grouped" and cin % 4 == 0 else 1
    return LayerSpec.conv(f"l{i}", size, size, filt, filt, cin, rng.choice([8, 32, 64, 128]),
                          stride=stride, padding=filt // 2, groups=groups, batch=rng.choice([1, 1, 2]))


def random_scheme(rng: random.Random, kinds=("fixed", "fixed", "pow2", "sp2", "term", "msq")) -> QuantScheme:
    kind = rng.choice(kinds)
    a = rng.randint(2, 10)
    if kind == "pow2":
        return QuantScheme("pow2", rng.randint(2, 6), a)
    if kind in ("fixed", "sp2"):
        return QuantScheme(kind, rng.randint(2, 12), a)
    if kind == "msq":  # a fraction of 0 or 1 is one row class: priced together too
        return QuantScheme("msq", rng.randint(2, 8), a, sp2_fraction=rng.choice([0.0, 0.25, 0.5, 1.0]))
    w, g = rng.randint(2, 10), rng.choice([1, 3, 4, 16])
    return QuantScheme("term", w, a, term_budget=rng.randint(1, 3 * g), group_size=g,
                       term_encoding=rng.choice(["binary", "csd"]),
                       a_term_budget=rng.choice([None, 1, 2]) if a >= 2 else None)


def random_config(rng: random.Random) -> ArrayConfig:
    unit = rng.choice(["dsp", "lut", "shift", "bitserial", "termserial"])
    serial = unit in ("bitserial", "termserial")
    return ArrayConfig(
        unit=unit, rows=rng.choice([1, 3, 8, 16, 32]), cols=rng.choice([1, 5, 16, 64]),
        dataflow="os" if serial else rng.choice(["os", "ws", "is"]), clock_hz=rng.uniform(5e7, 5e8),
        dsp_gen=rng.choice(["DSP48E1", "DSP48E2"]),
        energy=EnergyModel(node_nm=rng.choice([16.0, 28.0]), vdd_v=rng.choice([0.85, 1.0])),
        # small buffers tile the operands and spill partial sums; a low bandwidth is memory-bound
        ifmap_buffer_bytes=rng.choice([1024, 4096, 65536, 1 << 22]),
        weight_buffer_bytes=rng.choice([1024, 4096, 65536, 1 << 22]),
        ofmap_buffer_bytes=rng.choice([1024, 32768, 1 << 22]), buffer_ram=rng.choice(["bram18", "uram"]),
        dram_bandwidth_bytes_per_s=rng.choice([1e8, 4.264e9, 1e13]), static_power_w=rng.choice([0.0, 0.2]),
        dram_efficiency=rng.choice([0.75, 1.0]),
        serial=rng.choice(["weight", "both"]) if unit == "bitserial" else "weight",
        pack=rng.choice([0, 0, 1, 2, 3]) if unit == "dsp" else 0)


def reference(layer, scheme, cfg):
    try:
        return array_layer_cost.fn(layer, scheme, cfg)
    except (Unsupported, ValueError) as e:
        return f"{type(e).__name__}: {e}"


def test_priced_together_equals_priced_one_by_one():
    rng = random.Random(7)
    together = single = raised = 0
    for trial in range(150):
        cfg = random_config(rng)
        assert array_vector.vectorizable(cfg)
        layers = [random_layer(rng, i) for i in range(rng.randint(1, 12))]
        names, facts, want = [], [], []
        for layer in layers:
            scheme = random_scheme(rng)
            ref = reference(layer, scheme, cfg)
            try:
                f = array_vector.layer_facts(layer, scheme, cfg)
            except (Unsupported, ValueError) as e:  # the same error as one by one, first
                assert ref == f"{type(e).__name__}: {e}"
                raised += 1
                continue
            if f is array_vector.NOT_VECTOR:  # priced one by one (errors and all) by the model
                assert len(array_layer.row_classes(scheme, layer.n_per_group)) > 1
                single += 1
                continue
            assert not isinstance(ref, str), ref
            names.append(layer.name)
            facts.append(f)
            want.append(ref)
        together += len(facts)
        # bit-for-bit the same floats, by the loop and by numpy, and the same types (JSON)
        for got in (array_vector.price_layers_loop(names, facts, cfg),
                    array_vector.price_layers_numpy(names, facts, cfg)):
            assert got == want
            assert [[type(v) for v in vars(c).values()] for c in got] == \
                [[type(v) for v in vars(c).values()] for c in want]
    assert together > 500 and single > 20 and raised > 20  # every path was taken


def resnet_like() -> Workload:
    layers = [LayerSpec.conv("c1", 56, 56, 7, 7, 3, 64, stride=2, padding=3)]
    layers += [LayerSpec.conv(f"c{i}", 28, 28, 3, 3, 64, 64, padding=1) for i in range(2, 8)]
    layers += [LayerSpec.conv("dw", 28, 28, 3, 3, 64, 64, padding=1, groups=64), LayerSpec.linear("fc", 64, 10)]
    return Workload.chain("rl", layers)


@pytest.mark.parametrize("name", ["systolic", "bitserial", "termserial", "hetero"])
def test_models_equal_with_and_without_pricing_together(name, monkeypatch):
    """Reports and errors (which layer raises first) are the same every way."""
    w = resnet_like()
    rng = random.Random(3)
    model = get_model(name)
    knobs = {k.name: k for k in model.knobs()}
    points = []
    for _ in range(40):
        kv = {"rows": rng.choice([4, 8, 16]), "clock_hz": rng.uniform(1e8, 3e8),
              "weight_buffer_bytes": rng.choice([2048, 65536])}
        for k in ("pe_arith", "dataflow", "serial"):
            if k in knobs:
                kv[k] = rng.choice(knobs[k].choices)
        kinds = ("fixed", "term") if name == "bitserial" else ("fixed", "pow2", "sp2", "term", "msq")
        if rng.random() < 0.3:  # some points fail (e.g. shift-add lanes cannot run fixed point)
            kinds = ("fixed", "pow2", "sp2", "term", "msq")
        points.append(DesignPoint.make({l.name: random_scheme(rng, kinds) for l in w.layers}, kv))

    def run():
        array_core.clear_caches()
        out = []
        for p in points:
            try:
                out.append(model.evaluate(w, p).to_dict())
            except (Unsupported, ValueError) as e:
                out.append(f"{type(e).__name__}: {e}")
        return out

    together = run()  # homogeneous models: envelope, packing and layers in one pass
    with monkeypatch.context() as mp:
        mp.setattr(array_vector, "vectorizable", lambda cfg: False)
        one_by_one = run()
    monkeypatch.setattr(array_core, "_one_pass", lambda cls: False)
    steps = run()     # the separate steps (_uses, _pack, _price_layers, _resources)
    assert together == one_by_one
    # the separate steps meet a DSP array's uses in a set's (hash) order, so a point with
    # several unsupported uses may name another of them; the one pass names the first layer's
    for i, (a, b) in enumerate(zip(together, steps)):
        if a != b:
            assert isinstance(a, str) and isinstance(b, str) and a == first_envelope_error(model, w, points[i])
    assert sum(a == b for a, b in zip(together, steps)) >= len(points) - 3
    assert sum(isinstance(r, dict) for r in together) >= 8


def first_envelope_error(model, w: Workload, point: DesignPoint) -> str | None:
    """The error of the first use, in layer order, whose PE the array cannot build."""
    cfg = model._config_for(model.resolve_knobs(point))
    for layer in w.layers:
        for _, c in array_layer.row_classes(point.scheme_for(layer.name), layer.n_per_group):
            try:
                array_vector.pe_use(cfg.unit, layer.K, c, cfg.dsp_gen, cfg.energy, cfg.serial)
            except Unsupported as e:
                return f"Unsupported: {e}"
    return None


def test_layer_memo_is_bounded_lru_fifo(monkeypatch):
    monkeypatch.setattr(array_layer_cost, "maxsize", 5)
    array_core.clear_caches()
    m = get_model("systolic")
    w = resnet_like()
    first = m.evaluate(w, DesignPoint.make(knobs={"rows": 4}))
    assert array_layer_cost.cache_info().currsize == 5  # 9 layers priced, the 5 newest kept
    again = m.evaluate(Workload.chain("rl", w.layers), DesignPoint.make(knobs={"rows": 4}))
    assert again == first and again.layers[-1] is first.layers[-1] and again.layers[0] is not first.layers[0]
    assert array_layer_cost.cache_info().currsize == 5
    array_core.clear_caches()
    assert array_layer_cost.cache_info() == (0, 0, 5, 0)


def test_other_memos_are_bounded(monkeypatch):
    monkeypatch.setattr(array_layer, "WORKLOAD_VIEWS_SIZE", 2)
    monkeypatch.setattr(array_vector, "FACTS_MEMO_SIZE", 3)
    monkeypatch.setattr(array_core, "RESOURCES_MEMO_SIZE", 2)
    array_core.clear_caches()
    m = get_model("systolic")
    works = [Workload.chain(f"w{i}", [LayerSpec.gemm(f"g{j}", 8 + i, 16 + j, 8) for j in range(3)]) for i in range(4)]
    for i, w in enumerate(works):
        m.evaluate(w, DesignPoint.make(knobs={"rows": 2 + i}))
    assert len(array_layer._VIEWS) == 2
    cfg = m._config_for(m.resolve_knobs(DesignPoint.make()))
    facts = array_vector.context_records(cfg.unit, cfg.dsp_gen, cfg.energy, cfg.serial)
    assert 0 < len(facts) <= 3 + 3  # emptied past the bound, refilled by one point
    assert 0 < len(array_core._RESOURCES) <= 2 + 1
