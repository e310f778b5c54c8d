"""One home per number format: the registry (hwmodels.formats) and the torch quantizers
(dse.quant.formats).

A toy format registered from this test ("ternary": weights in {-1, 0, +1}, activations
with an optional term budget it draws in the search space) becomes usable in config
validation, a search-space suggestion, a ``quantize_model`` fine-tuning step and
``hwmodels.formats.levels``; unregistering it restores the registry. The built-in formats'
levels and quantized values are pinned to golden values taken from the code before the
registry existed (commit HEAD of issue 17's phase 1, run from ``git archive HEAD``).
"""

import hashlib
import struct

import numpy as np
import optuna
import pytest
import torch

from dse.config import parse_config
from dse.errors import UserError
from dse.quant import QuantScheme, quantize_model
from dse.quant.fake import fake_quantize, quantize_normalized
from dse.quant.formats.msq import quantize as _msq_quantize, row_state as _msq_rows
from dse.quant.formats import nearest_level, quantizer_for, register_quantizer, unregister_quantizer
from hwmodels import LayerSpec, Workload
from hwmodels.formats import (MAX_BITS, NumberFormat, SpaceField, check_space_kinds, formats, get_format, kinds,
                              levels, register_format, space_field_kinds, unregister_format)
from search_spaces import FormatPiece, SearchSpace, default_quant_pieces

BUILTIN = ("fixed", "pow2", "sp2", "term", "msq")


def _digest(values) -> str:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return hashlib.sha256(struct.pack(f"<{flat.size}d", *flat)).hexdigest()[:20]


def _levels_digest(kind, bits) -> str:
    return hashlib.sha256(np.ascontiguousarray(levels(kind, bits)).tobytes()).hexdigest()[:16]


# --- built-in formats: golden values from the code before the registry ----------------------

GOLDEN_LEVELS = {
    ("fixed", 3): [-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0],
    ("pow2", 2): [-1.0, 0.0, 1.0],
    ("pow2", 4): [-1.0, -0.5, -0.25, -0.125, -0.0625, -0.03125, -0.015625, 0.0,
                  0.015625, 0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0],
    ("sp2", 3): [-1.0, -0.5, 0.0, 0.5, 1.0],
    ("sp2", 4): [-1.0, -0.75, -0.625, -0.5, -0.25, -0.125, 0.0, 0.125, 0.25, 0.5, 0.625, 0.75, 1.0],
    ("sp2", 5): [-1.0, -0.75, -0.625, -0.5, -0.375, -0.25, -0.125, 0.0,
                 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0],
    ("term", 3): [-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0],
}

#: sha256 of the float64 level bytes for every width (first 16 hex digits)
GOLDEN_LEVEL_DIGESTS = {
    "fixed": (  # bits 2..16
        "fb1aa2ca369460d4", "b8705447241ce406", "a4abe52d483b1a47", "cf7d4dda2ee86aab", "e2ba9295b04f4042",
        "559c8a282b93c79e", "bc0ed9fb00604e05", "e42f425733ccd5f9", "2ee5d2a7d69d207c", "c18f2927bb23059f",
        "7ba5a8e775b0afe1", "021eb4b88ef765ba", "04666454f0ddab2c", "8e5fc0ab68d37203", "2132908ca3432b7f",
    ),
    "pow2": (  # bits 2..6
        "fb1aa2ca369460d4", "f4030c124957a1e8", "f3362b8b0b5c59db", "768330eca1a5cd5a", "5a1804b7592607ad",
    ),
    "sp2": (  # bits 2..16
        "fb1aa2ca369460d4", "9fa4a5b5772de47d", "88bfedd0e2a1ed9e", "fe76298d48ac2480", "c3fed3a48be57fdc",
        "6b872f89378c6f9c", "a8947b4cd451b2a2", "7ce2570f8e49a338", "673f05c466df1c73", "5d605b75cdf6d9b4",
        "3b50abe34e953f06", "57bbb3c41f027fa6", "9b89dd818b212a00", "856ef03f29cd53a6", "68ae9f7f4a06ba0f",
    ),
}
#: term quantization truncates a value's terms, not its level set: its levels are fixed point's
GOLDEN_LEVEL_DIGESTS["term"] = GOLDEN_LEVEL_DIGESTS["fixed"]


def test_builtin_levels_equal_the_golden_values():
    for (kind, bits), want in GOLDEN_LEVELS.items():
        assert levels(kind, bits).tolist() == pytest.approx(want, abs=0, rel=1e-15), (kind, bits)
    assert levels("fixed", 3).tolist()[1] == -0.6666666666666666  # exact, not just close
    assert list(kinds()[:5]) == list(BUILTIN)


@pytest.mark.parametrize("kind", sorted(GOLDEN_LEVEL_DIGESTS))
def test_builtin_levels_digests_at_every_width(kind):
    got = tuple(_levels_digest(kind, b) for b in range(2, 2 + len(GOLDEN_LEVEL_DIGESTS[kind])))
    assert got == GOLDEN_LEVEL_DIGESTS[kind]


def _input() -> torch.Tensor:
    """4 rows x 25 values, exact in float64, both signs, two scales."""
    c = (torch.arange(-50, 50, dtype=torch.float64) / 50).reshape(4, 25)
    return torch.cat([c[:2], c[2:].flip(1) * 0.5]).contiguous()


GOLDEN_QUANT = {
    "fixed3": (QuantScheme("fixed", 3, 8), "8b9fb33897052aacd995"),
    "rowbits": (QuantScheme.with_row_bits([2, 3, 4, 5], 8), "984e678375313ae35891"),
    "pow2_4": (QuantScheme("pow2", 4, 8), "00f5ba360a6ccd47f584"),
    "sp2_4": (QuantScheme("sp2", 4, 8), "821432b493f2885d93c8"),
    "term5": (QuantScheme("term", 5, 8, term_budget=3, group_size=4), "3c5f0c4469a45d1a8d36"),
    "term6csd": (QuantScheme("term", 6, 8, term_budget=2, group_size=1, term_encoding="csd"), "0140b41678b674763126"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_QUANT))
def test_builtin_quantized_values_equal_the_golden_values(name):
    scheme, digest = GOLDEN_QUANT[name]
    assert _digest(quantize_normalized(_input(), scheme).tolist()) == digest


def test_msq_quantized_values_equal_the_golden_values():
    rows = torch.tensor([True, False, False, True])
    q = quantize_normalized(_input(), QuantScheme("msq", 4, 8, sp2_fraction=0.5), rows)
    assert _digest(q.tolist()) == "e94f808d0223e5e473b6"
    w = torch.tensor([[0.9, -0.1, 0.05, 0.02, -0.03, 0.01], [0.5, -0.5, 0.4, -0.4, 0.3, -0.3],
                      [0.2, 0.1, -0.6, 0.0, 0.1, -0.1], [0.25, 0.5, -0.75, 1.0, -0.25, 0.0]], dtype=torch.float64)
    fq = fake_quantize(w, QuantScheme("msq", 4, 8, sp2_fraction=0.5))  # rows assigned by kurtosis
    assert fq[0].tolist() == [0.9, -0.1125, 0.0, 0.0, 0.0, 0.0]
    assert _digest(fq.tolist()) == "2eee59b87371fa11e954"


# --- a format registered from the test -----------------------------------------------------

def _ternary_check(s: QuantScheme) -> None:
    if s.a_term_budget is not None and not 1 <= s.a_term_budget <= s.a_bits:
        raise ValueError(f"a_term_budget: must be in [1, {s.a_bits}], got {s.a_term_budget}")


TERNARY = NumberFormat(
    "ternary", magnitudes=lambda bits: np.array([0.0, 1.0]), weight_terms=lambda s: 1.0,
    max_bits=2, max_bits_why=" (three levels)", fields=("a_term_budget",), check=_ternary_check,
    space_fields=(SpaceField("a_term_budgets", "a_term_budget", (1, 2)),),
    scheme_fields=lambda drawn, layer: {"a_term_budget": None if drawn["a_term_budget"] is None
                                        else min(int(drawn["a_term_budget"]), layer.get("a_bits", 8))},
    doc="weights in {-1, 0, +1}")


def _ternary_quantize(c, scheme, rows=None, row_dim=0):
    return nearest_level(c, "ternary", scheme.w_bits)


@pytest.fixture
def ternary():
    register_format(TERNARY)
    register_quantizer("ternary", _ternary_quantize)
    try:
        yield TERNARY
    finally:
        unregister_quantizer("ternary")
        unregister_format("ternary")


WL = Workload.chain("toy", [LayerSpec.conv("c1", 8, 8, 3, 3, 1, 8, padding=1),
                            LayerSpec.conv("c2", 8, 8, 3, 3, 8, 16, padding=1),
                            LayerSpec.linear("fc", 1024, 10)])


def test_registered_format_has_levels_and_scheme_rules(ternary):
    assert kinds() == BUILTIN + ("ternary",)
    assert levels("ternary", 2).tolist() == [-1.0, 0.0, 1.0]
    s = QuantScheme("ternary", 2, 4, a_term_budget=3)
    assert s.weight_terms_per_value == 1.0 and s.act_terms_per_value == 3.0
    assert QuantScheme.parse("ternary:2").kind == "ternary"
    with pytest.raises(ValueError, match=r"^w_bits: ternary supports at most 2 bits \(three levels\), got 3$"):
        QuantScheme("ternary", 3)
    with pytest.raises(ValueError, match=r"^sp2_fraction: only meaningful for kind 'msq', not 'ternary'$"):
        QuantScheme("ternary", 2, sp2_fraction=0.5)
    # the field it shares with term keeps term's message for other kinds
    with pytest.raises(ValueError, match=r"^a_term_budget: only meaningful for kind 'term', not 'fixed'$"):
        QuantScheme("fixed", 4, a_term_budget=2)
    assert ("a_term_budgets", "ternary") in space_field_kinds()
    with pytest.raises(ValueError, match="already registered"):
        register_format(TERNARY)


def test_registered_format_passes_config_validation(ternary):
    cfg = parse_config({"space": {"kinds": ["fixed", "ternary"], "w_bits": [2, 4], "a_bits": [4]}})
    assert cfg.space.kinds == ("fixed", "ternary")
    with pytest.raises(UserError, match=r"space.w_bits: kind ternary needs at least one width <= 2"):
        parse_config({"space": {"kinds": ["ternary"], "w_bits": [4, 8]}})
    assert check_space_kinds(cfg.space) is None


def test_registered_format_is_drawn_by_the_search_space(ternary):
    space = SearchSpace(default_quant_pieces(("fixed", "ternary"), w_bits=(2, 4), a_bits=(4, 8),
                                             a_term_budgets=(1, 2, 6), first_last="search"))
    assert [type(p).__name__ for p in space.pieces] == ["KindBitsPiece", "FormatPiece"]
    dims = {d.name: d for d in space.dimensions(WL)}
    assert dims["c1.a_term_budget"].when == ("c1.kind", "ternary")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        point = space.suggest(trial, WL)
        for name, s in point.schemes:
            seen.add(s.kind)
            if s.kind == "ternary":
                assert s.w_bits == 2  # clamped to the format's widest
                assert s.a_term_budget == min(trial.params[f"{name}.a_term_budget"], s.a_bits)
            else:
                assert f"{name}.a_term_budget" not in trial.params and s.a_term_budget is None
        study.tell(trial, 0.0)
    assert seen == {"fixed", "ternary"}


def test_registered_format_fine_tunes_through_quantize_model(ternary):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))
    plan = {"0": QuantScheme("ternary", 2, 8), "3": QuantScheme("ternary", 2, 8, a_term_budget=2)}
    model = quantize_model(net, plan, quantize_inputs=True)
    x, y = torch.randn(16, 3, 6, 6), torch.randint(0, 3, (16,))
    losses = []
    for _ in range(8):  # plain SGD steps: weights, clips and activation clips all learn
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 0.05 * p.grad
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    layer = model[0]
    with torch.no_grad():
        wq = layer.weight_quant(layer.inner.weight)
        alpha = layer.weight_quant.alpha.abs().view(-1, 1, 1, 1)
    assert set(torch.round(wq / alpha).unique().tolist()) == {-1.0, 0.0, 1.0}


def test_a_level_set_format_needs_no_torch_code():
    """Registered in hwmodels only: weights round to the nearest level of its set."""
    log2z = NumberFormat("log2z", magnitudes=lambda b: np.concatenate([[0.0], 2.0 ** -np.arange(0, b)]),
                         weight_terms=lambda s: 1.0, doc="zero and b powers of two")
    register_format(log2z)
    try:
        c = torch.tensor([[0.9, 0.3, -0.2, 0.01, -0.7]], dtype=torch.float64)
        want = [[1.0, 0.25, -0.25, 0.0, -0.5]]  # levels 0, 1/8, 1/4, 1/2, 1 at 4 bits
        assert quantize_normalized(c, QuantScheme("log2z", 4, 8, "per_tensor")).tolist() == want
        net = torch.nn.Sequential(torch.nn.Linear(5, 2))
        out = quantize_model(net, {"0": QuantScheme("log2z", 4, 8)})(c.float())
        assert out.shape == (1, 2) and torch.isfinite(out).all()
        with pytest.raises(ValueError, match="^kind: no torch quantizer registered for 'msq'"):
            unregister_quantizer("msq")
            try:
                quantizer_for("msq")
            finally:
                register_quantizer("msq", _msq_quantize, _msq_rows)
    finally:
        unregister_format("log2z")
    assert kinds() == BUILTIN


def test_after_unregistering_the_format_is_unknown_everywhere():
    register_format(TERNARY)
    register_quantizer("ternary", _ternary_quantize)
    unregister_quantizer("ternary")
    unregister_format("ternary")
    assert kinds() == BUILTIN and [f.kind for f in formats()] == list(BUILTIN)
    with pytest.raises(ValueError, match=r"^kind: must be one of fixed, pow2, sp2, term, msq; got 'ternary'$"):
        QuantScheme("ternary", 2)
    with pytest.raises(ValueError, match="^kind: must be one of"):
        levels("ternary", 2)
    with pytest.raises(ValueError, match="^kind: must be one of"):
        quantizer_for("ternary")
    with pytest.raises(UserError, match=r"space.kinds\[1\]: unknown value 'ternary'"):
        parse_config({"space": {"kinds": ["fixed", "ternary"], "w_bits": [2, 4]}})
    assert ("a_term_budgets", "ternary") not in space_field_kinds()
    assert get_format("term").max_bits == MAX_BITS


def test_format_piece_of_a_builtin_matches_its_named_piece():
    from search_spaces import Sp2FractionPiece, TermBudgetPiece

    named = [TermBudgetPiece(terms_per_value=(1.0, 2.0), group_sizes=(4,), a_term_budgets=(2, 3)),
             Sp2FractionPiece(fractions=(0.25, 0.5))]
    generic = [FormatPiece("term", {"terms_per_value": (1.0, 2.0), "group_sizes": (4,), "a_term_budgets": (2, 3)}),
               FormatPiece("msq", {"sp2_fractions": (0.25, 0.5)})]
    for a, b in zip(named, generic):
        assert a.dimensions(WL, BUILTIN) == b.dimensions(WL, BUILTIN)
        assert a.fixed_values(WL, BUILTIN) == b.fixed_values(WL, BUILTIN)
