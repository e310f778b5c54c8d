"""``[multires]``: the multi-resolution checkpoint that ``fidelity = "multires"`` scores
candidates from (see ``dse/methods/multires.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwmodels.formats import ENCODINGS, MAX_BITS, MIN_BITS

from .schema import Check, Choice, Int, ListOf, Num, Str, fail, setting

#: the reference implementation's budget list (activation terms a, weight terms k per
#: group of 16): Zhang, McDanel, Kung & Dong, ASPLOS 2021, multi-resolution term training
DEFAULT_MULTIRES_BUDGETS = ((2, 8), (2, 10), (2, 12), (2, 14), (3, 14), (3, 16), (3, 18), (3, 20))
#: the number format of every multi-resolution layer (its term budget is the resolution);
#: also the ``first_last`` policy "every layer multi-resolution"
MULTIRES_KIND = "term"
MULTIRES_FIRST_LAST = (MULTIRES_KIND, "fixed8")


def parse_budget(value: Any, path: str) -> tuple[int, int]:
    """One multi-resolution budget, ``"a:k"`` or ``[a, k]``: (activation terms per value,
    weight terms per group), both integers >= 1."""
    if isinstance(value, str):
        a, sep, k = value.partition(":")
        try:
            if not sep:
                raise ValueError
            pair = (int(a.strip()), int(k.strip()))
        except ValueError:
            raise fail(path, f"cannot parse {value!r}; write 'a:k' (activation terms per value : weight "
                       "terms per group), e.g. '2:8'") from None
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (Int(1).check(value[0], f"{path}[0]"), Int(1).check(value[1], f"{path}[1]"))
    else:
        raise fail(path, f"expected 'a:k' or [a, k], got {type(value).__name__} {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise fail(path, f"terms must be >= 1, got {pair[0]}:{pair[1]}")
    return pair


_BUDGETS = ListOf(parse_budget, min_len=2, short="need two or more budgets (the largest is the teacher of the others)")


def parse_budgets(value: Any, path: str) -> tuple[tuple[int, int], ...]:
    """A list of budgets (or one comma-separated string ``"a:k,a:k"``): two or more,
    distinct."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    return _BUDGETS.check(value, path)


def _checkpoint(value: Any, path: str) -> str:
    return Str("a file path", empty="must not be empty (leave it out to use the cache)").check(value, path)


@dataclass(frozen=True)
class MultiresConfig:
    """``[multires]``: the multi-resolution checkpoint that ``fidelity = "multires"`` scores
    candidates from (see the package ``dse/methods/multires/``). ``budgets`` are (activation
    terms per value, weight terms per group of ``group``) pairs; ``first_last`` is ``term``
    (every compute layer multi-resolution) or ``fixed8`` (first and last at 8-bit fixed point,
    as in the paper); ``None`` follows ``space.first_last``.

    The one declaration of these settings: ``dse.methods.multires.MultiresSpec`` (the
    checkpoint's cache key) declares its fields by pointing at these (constraint, doc, default;
    ``group`` is its ``group_size``) and is built from a study by ``MultiresSpec.from_config``;
    ``calibration_batches`` and ``checkpoint`` are the study's scoring settings only."""

    budgets: tuple[tuple[int, int], ...] = setting(DEFAULT_MULTIRES_BUDGETS, Check(parse_budgets, "'a:k' list"),
                                                   "(activation terms per value, weight terms per group) pairs, "
                                                   "two or more; the largest teaches the others")
    group: int = setting(16, Int(1, 4096), "weights sharing one term budget")
    w_bits: int = setting(8, Int(MIN_BITS, MAX_BITS), "weight integer grid, sign included")
    a_bits: int = setting(8, Int(MIN_BITS, MAX_BITS), "activation bits")
    encoding: str = setting("binary", Choice(ENCODINGS), "term encoding")
    first_last: str | None = setting(None, Choice(MULTIRES_FIRST_LAST),
                                     "term (every layer multi-resolution) or fixed8 (first and last at 8-bit "
                                     "fixed point); default: follows space.first_last")
    epochs: int = setting(10, Int(1, 10000), "multi-resolution training epochs")
    lr: float = setting(1e-3, Num(0.0, 10.0, strict_low=True), "peak learning rate (Adam, cosine decay)")
    distill_weight: float = setting(0.1, Num(0.0, 10.0), "weight w of the distillation term "
                                    "w T^2 KL(teacher || student); the largest budget is the teacher")
    temperature: float = setting(4.0, Num(0.0, 100.0, strict_low=True), "distillation temperature")
    calibration_batches: int = setting(10, Int(1, 100000), "shuffled training batches re-estimating the "
                                       "BatchNorm statistics of each scored candidate")
    checkpoint: str | None = setting(None, Check(_checkpoint, "a file path"),
                                     "checkpoint file (default: the cache)")

    def check(self) -> None:
        for i, (a, _) in enumerate(self.budgets):
            if a > self.a_bits:
                raise fail(f"multires.budgets[{i}]", f"{a} activation terms exceed multires.a_bits = {self.a_bits}")
