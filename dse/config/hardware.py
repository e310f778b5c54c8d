"""``[hardware]``: the hardware model, its FPGA part and which knobs the search draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .schema import ListOf, Str, Table, setting


@dataclass(frozen=True)
class HardwareConfig:
    model: str = setting("systolic", Str("a model name (see 'dse hw list')"), "hardware model (see 'dse hw list')")
    device: str | None = setting(None, Str("a device name (e.g. XC7Z020)"),
                                 "FPGA part, e.g. XC7Z020 (default: the model's)")
    fixed: Mapping[str, Any] = setting(default_factory=dict, constraint=Table("a table of knob = value"),
                                       doc="knobs held at these values")
    ranges: Mapping[str, Any] = setting(default_factory=dict, constraint=Table("a table of knob = value"),
                                        doc="knob ranges the search draws from")
    search: tuple[str, ...] | None = setting(None, ListOf(Str("a knob name"), nonempty=False),
                                             "knobs the search draws (default: the model's)")
