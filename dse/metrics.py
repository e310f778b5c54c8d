"""The metric table: every number a trial is scored by, declared once.

One :class:`Metric` per name says what the number is (label, SI unit, description), which
way is better, where its value comes from (``source`` and ``field``: an attribute of the
hardware report, of the point's complexity metrics, or of the fine-tune result), whether
a study may use it as an objective or cap it, and how to show it (terminal text, report
display). Config validation (``dse.config.OBJECTIVES``), the evaluator, the terminal
Pareto table, exports and the HTML report all read this table.

Adding a metric is one row here, plus computing its value where the source object is
built (e.g. a new ``HwReport`` property for a hardware metric).

No torch, no optuna: this module sits at the bottom of ``dse``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

#: where a metric's value comes from, cheapest first (the evaluator fills them in this order)
SOURCES = ("hardware", "complexity", "training")
#: how the report shows a value: percent (x100, 2 decimals), si (the largest unit of ``ladder`` in
#: which it is >= 1), count (rounded, grouped digits), decimals (``digits`` of them), sig (4 significant digits)
DISPLAYS = ("percent", "si", "count", "decimals", "sig")
DIRECTIONS = ("maximize", "minimize")

_SECONDS = ((1.0, "s"), (1e3, "ms"), (1e6, "us"), (1e9, "ns"))
_JOULES = ((1.0, "J"), (1e3, "mJ"), (1e6, "uJ"), (1e9, "nJ"))


@dataclass(frozen=True)
class Metric:
    """One metric. ``unit`` is the SI unit the value is stored in ("" for counts and ratios).

    ``field`` is the attribute path that :meth:`value_of` reads on the source object:
    :class:`hwmodels.HwReport` for ``hardware``, :class:`hwmodels.metrics.Metrics` for
    ``complexity``, the fine-tune (or fidelity scorer) result for ``training``.
    ``text``/``text_scale``: the terminal form (``text.format(value * text_scale)``)."""

    name: str
    label: str
    unit: str
    direction: str
    source: str
    field: str
    description: str
    objective: bool = True
    cap: bool = True
    text: str = "{:.0f}"
    text_scale: float = 1.0
    display: str = "count"
    digits: int = 0
    ladder: tuple[tuple[float, str], ...] = ()
    short: str = ""
    report_column: bool = True

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name!r}: direction {self.direction!r} not in {DIRECTIONS}")
        if self.source not in SOURCES:
            raise ValueError(f"metric {self.name!r}: source {self.source!r} not in {SOURCES}")
        if self.display not in DISPLAYS:
            raise ValueError(f"metric {self.name!r}: display {self.display!r} not in {DISPLAYS}")
        if self.display == "si" and not self.ladder:
            raise ValueError(f"metric {self.name!r}: display 'si' needs a unit ladder")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def format(self, v: Optional[float]) -> str:
        """The value for a terminal table ("-" when missing or NaN)."""
        if v is None or (isinstance(v, float) and v != v):
            return "-"
        return self.text.format(v * self.text_scale)

    def value_of(self, source: Any) -> Any:
        """The metric's value read from its source object (``field``, dotted)."""
        for part in self.field.split("."):
            source = getattr(source, part)
        return source

    def to_json(self) -> dict[str, Any]:
        """The facts the HTML report needs (embedded in the page)."""
        d = asdict(self)
        d["ladder"] = [list(x) for x in self.ladder]
        return d


def _m(name: str, label: str, unit: str, direction: str, source: str, description: str, *, field: str = "",
       **kw: Any) -> Metric:
    return Metric(name, label, unit, direction, source, field or name, description, **kw)


#: every metric, in table order: the objectives first, in the order ``dse.config.OBJECTIVES`` lists them
METRICS: dict[str, Metric] = {m.name: m for m in (
    _m("accuracy", "accuracy", "", "maximize", "training",
       "top-1 validation accuracy of the quantized network after its fine-tune (0..1)",
       text="{:.2f}%", text_scale=100.0, display="percent", short="acc"),
    _m("latency_s", "latency", "s", "minimize", "hardware",
       "time for one inference on the accelerator (sum over layers, which run one after another)",
       text="{:.1f} us", text_scale=1e6, display="si", ladder=_SECONDS, short="lat"),
    _m("energy_j", "energy", "J", "minimize", "hardware",
       "energy of one inference: compute and memory, summed over layers",
       text="{:.2f} uJ", text_scale=1e6, display="si", ladder=_JOULES, short="energy"),
    _m("lut", "LUTs", "", "minimize", "hardware", "look-up tables the accelerator instantiates",
       field="resources.lut", short="lut"),
    _m("dsp", "DSPs", "", "minimize", "hardware", "DSP slices the accelerator instantiates",
       field="resources.dsp", short="dsp"),
    _m("bram18", "BRAM18s", "", "minimize", "hardware", "18 Kib block RAMs the accelerator instantiates",
       field="resources.bram18", short="bram"),
    _m("ff", "FFs", "", "minimize", "hardware", "flip-flops the accelerator instantiates",
       field="resources.ff", short="ff"),
    _m("avg_weight_bits", "avg weight bits", "", "minimize", "complexity",
       "weight bits averaged over every weight of the network (model size / weight count)",
       text="{:.2f}", display="decimals", digits=2, short="bits"),
    _m("mac_bits", "MAC bits", "", "minimize", "complexity",
       "sum over layers of MACs x weight bits (the work of a bit-serial unit)",
       text="{:.3g}", display="sig", short="macbits", report_column=False),
    _m("term_pairs", "term pairs", "", "minimize", "complexity",
       "sum over layers of MACs x weight terms x activation terms per value (the work of a term-serial unit)",
       text="{:.3g}", display="sig", short="terms", report_column=False),
    # recorded for every trial, not (yet) offered as objectives or caps
    _m("cycles", "cycles", "", "minimize", "hardware", "clock cycles of one inference",
       objective=False, cap=False, short="cycles", report_column=False),
    _m("uram", "URAMs", "", "minimize", "hardware", "UltraRAM blocks the accelerator instantiates",
       field="resources.uram", objective=False, cap=False, short="uram"),
    _m("float_accuracy", "FP32 accuracy", "", "maximize", "training",
       "validation accuracy of the pre-trained FP32 network the fine-tune started from (0..1)",
       objective=False, cap=False, text="{:.2f}%", text_scale=100.0, display="percent", short="fp32",
       report_column=False),
)}


def metric(name: str) -> Metric:
    """The table's entry for ``name``; ``KeyError`` naming the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def names(source: Optional[str] = None, objective: Optional[bool] = None,
          cap: Optional[bool] = None) -> tuple[str, ...]:
    """Metric names in table order, filtered by source and by the objective/cap flags."""
    return tuple(m.name for m in METRICS.values()
                 if (source is None or m.source == source) and (objective is None or m.objective == objective)
                 and (cap is None or m.cap == cap))


def format_value(name: str, v: Optional[float]) -> str:
    """A metric's value as the terminal shows it; an unknown name prints as a rounded number."""
    m = METRICS.get(name)
    if m is None:
        return "-" if v is None or (isinstance(v, float) and v != v) else f"{v:.0f}"
    return m.format(v)


def values_from(source: str, obj: Any) -> dict[str, Any]:
    """Every metric of ``source`` read from ``obj`` (table order)."""
    return {m.name: m.value_of(obj) for m in METRICS.values() if m.source == source}


def report_table() -> dict[str, dict[str, Any]]:
    """The table as the HTML report embeds it (name -> facts)."""
    return {name: m.to_json() for name, m in METRICS.items()}
