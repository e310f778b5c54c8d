"""What an allocation learns and how (:class:`AllocationSpec`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from hwmodels.formats import MAX_BITS, MIN_BITS

from ...config.schema import Choice, Int, Num, setting
from ..settings import check_settings

METRICS = ("size", "macbits", "cycles")
GRANULARITIES = ("filter", "layer")
FIRST_LAST = ("learn", "fixed8")


@dataclass(frozen=True)
class AllocationSpec:
    """What to learn and how. Each field is declared once, with its constraint and doc
    (:func:`dse.config.schema.setting`): the library check below and the docs read it.
    ``init_bits`` ``None`` starts at ``bits_max`` (the penalty then pulls widths down fastest
    where they cost the most); ``batch_size`` ``None`` takes the workload's."""

    metric: str = setting("macbits", Choice(METRICS), "penalised cost: size = weights x bits, macbits = MACs x "
                          "bits (per filter), cycles = MACs x bits with output pixels padded to the bit-serial "
                          "array's rows (an extension)")
    target: float = setting(4.0, Num(0.0, strict_low=True), "budget in average bits: per weight (size), per MAC "
                            "(macbits) or per padded MAC (cycles); 4 = the cost of a uniform 4-bit network")
    granularity: str = setting("filter", Choice(GRANULARITIES), "one width per filter (output channel) or per "
                               "layer")
    bits_min: int = setting(2, Int(MIN_BITS, MAX_BITS), "smallest learned width, sign included")
    bits_max: int = setting(8, Int(MIN_BITS, MAX_BITS), "largest learned width, sign included")
    a_bits: int = setting(8, Int(MIN_BITS, MAX_BITS), "activation bits of every layer (uniform, fixed)")
    epochs: int = setting(10, Int(1), "allocation training epochs")
    lr: float = setting(1e-3, Num(0.0, strict_low=True), "learning rate of the weights (Adam, cosine decay)")
    quant_lr: float = setting(0.05, Num(0.0, strict_low=True), "learning rate of log(step) and log(range), per "
                              "learned width (plain SGD, cosine decay)")
    penalty: float = setting(1.0, Num(0.0, strict_low=True), "lambda, per average bit over the target")
    init_bits: Optional[float] = setting(None, Num(float(MIN_BITS), float(MAX_BITS)), "starting width of every "
                                         "learned filter, in [bits_min, bits_max] (default bits_max)")
    first_last: str = setting("learn", Choice(FIRST_LAST), "learn every compute layer, or pin the first and last "
                              "at W8A8 (fixed8; still counted in the cost)")
    batch_size: Optional[int] = setting(None, Int(1), "batch size (default: the workload's)")
    array_rows: int = setting(16, Int(1), "cycles only: rows of the bit-serial array (its 'rows' knob)")

    def __post_init__(self) -> None:
        check_settings(self, ("metric", "granularity", "first_last", "bits_min", "bits_max", "a_bits"))
        if self.bits_min > self.bits_max:
            raise ValueError(f"bits_min: {self.bits_min} > bits_max {self.bits_max}")
        check_settings(self, ("epochs", "target", "lr", "quant_lr", "penalty"))
        if self.init_bits is not None and not self.bits_min <= self.init_bits <= self.bits_max:
            raise ValueError(f"init_bits: must be in [bits_min, bits_max] = [{self.bits_min}, {self.bits_max}], "
                             f"got {self.init_bits!r}")
        check_settings(self, ("array_rows", "batch_size"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
