"""The constraint vocabulary and the ONE validator of every config section.

A section is a frozen dataclass whose fields are declared with :func:`setting`: type,
default, a constraint (``Int(1, 10_000_000)``, ``Choice(...)``, ``ListOf(...)``, ...) and a doc
string. :func:`validate_section` turns a TOML table into the dataclass, checking every key
with its field's constraint; the same declaration gives the CLI option (``dse/commands/options.py``)
and the row of docs/configuration.md. In the spirit of scikit-learn's ``_parameter_constraints``.

Every mistake raises :class:`FieldError` (a :class:`~dse.errors.UserError` the CLI prints on
one line, and a ``ValueError`` for library callers) whose text starts with the field path
(``space.w_bits[1]: must be in [2, 16], got 33``).

Upper bounds of numbers are guards against typos in user input (a TOML file, a CLI flag);
:func:`check_instance` (library objects such as ``FinetuneBudget``) skips them, so a test may
still train with ``lr=1e12`` on purpose.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import MISSING, fields
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import UserError


class FieldError(UserError, ValueError):
    """A value outside its field's constraint; the message starts with the field path."""


def fail(path: str, msg: str) -> FieldError:
    return FieldError(f"{path}: {msg}" if path else msg)


def _got(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


# --- constraints ----------------------------------------------------------------------------

class Constraint:
    """What a field accepts. ``check`` returns the (normalised) value or raises FieldError."""

    def check(self, value: Any, path: str, bounded: bool = True) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class Int(Constraint):
    """An integer in ``[low, high]`` (``high=None``: unbounded)."""

    def __init__(self, low: int, high: int | None = None):
        self.low, self.high = low, high

    def check(self, value, path, bounded=True):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise fail(path, f"expected an integer, got {_got(value)}")
        high = self.high if bounded else None
        if value < self.low or (high is not None and value > high):
            raise fail(path, f"must be in [{self.low}, {high if high is not None else 'inf'}], got {value}")
        return int(value) if bounded else value

    def describe(self):
        return f"integer in [{self.low}, {self.high if self.high is not None else 'inf'}]"


class Num(Constraint):
    """A finite number, ``>= low`` (``> low`` when ``strict_low``) and ``<= high``."""

    def __init__(self, low: float | None = None, high: float | None = None, strict_low: bool = False):
        self.low, self.high, self.strict_low = low, high, strict_low

    def check(self, value, path, bounded=True):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise fail(path, f"expected a number, got {_got(value)}")
        v = float(value)
        if not math.isfinite(v):
            raise fail(path, f"must be a finite number, got {value}")
        if self.low is not None and (v < self.low or (self.strict_low and v == self.low)):
            raise fail(path, f"must be {'>' if self.strict_low else '>='} {self.low:g}, got {value}")
        if bounded and self.high is not None and v > self.high:
            raise fail(path, f"must be <= {self.high:g}, got {value}")
        return v if bounded else value

    def describe(self):
        lo = "" if self.low is None else f"{'>' if self.strict_low else '>='} {self.low:g}"
        hi = "" if self.high is None else f"<= {self.high:g}"
        return "number" + (" " + ", ".join(x for x in (lo, hi) if x) if lo or hi else "")


class Choice(Constraint):
    """One of a set of names; ``allowed`` may be a callable (a registry read at check time)."""

    def __init__(self, allowed: Sequence[str] | Callable[[], Sequence[str]]):
        self._allowed = allowed

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(self._allowed() if callable(self._allowed) else self._allowed)

    def check(self, value, path, bounded=True):
        allowed = self.allowed
        if not isinstance(value, str) or value not in allowed:
            raise fail(path, f"unknown value {value!r}; allowed: {', '.join(allowed)}")
        return value

    def describe(self):
        return " | ".join(self.allowed)


class Bool(Constraint):
    def check(self, value, path, bounded=True):
        if not isinstance(value, bool):
            raise fail(path, f"expected true or false, got {_got(value)}")
        return value

    def describe(self):
        return "true | false"


class Str(Constraint):
    """A string; ``what`` names it in the message; ``empty`` (a hint) refuses a blank one."""

    def __init__(self, what: str = "a string", empty: str | None = None):
        self.what, self.empty = what, empty

    def check(self, value, path, bounded=True):
        if not isinstance(value, str):
            raise fail(path, f"expected {self.what}, got {_got(value)}")
        if self.empty is not None and not value.strip():
            raise fail(path, self.empty)
        return value

    def describe(self):
        return self.what


class Table(Constraint):
    """A TOML table (copied into a plain dict)."""

    def __init__(self, what: str = "a table"):
        self.what = what

    def check(self, value, path, bounded=True):
        if not isinstance(value, dict):
            raise fail(path, f"expected {self.what}, got {_got(value)}")
        return dict(value)

    def describe(self):
        return self.what


class ListOf(Constraint):
    """A list of items (each checked by ``item``, path ``field[i]``), distinct, non-empty unless
    ``nonempty=False``, with at least ``min_len`` entries (``short``: the message then)."""

    def __init__(self, item: Constraint | Callable[[Any, str], Any], nonempty: bool = True, min_len: int = 0,
                 short: str = ""):
        self.item, self.nonempty, self.min_len, self.short = item, nonempty, min_len, short

    def check(self, value, path, bounded=True):
        if isinstance(value, tuple) and not bounded:
            value = list(value)
        if not isinstance(value, list):
            raise fail(path, f"expected a list, got {_got(value)}")
        if self.nonempty and not value:
            raise fail(path, "must not be empty")
        item = self.item.check if isinstance(self.item, Constraint) else self.item
        out = tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(set(out)) != len(out):
            raise fail(path, f"has duplicate entries: {list(value)}")
        if len(out) < self.min_len:
            raise fail(path, self.short)
        return out

    def describe(self):
        inner = self.item.describe() if isinstance(self.item, Constraint) else "items"
        return f"list of {inner}"


class Check(Constraint):
    """A custom check: ``fn(value, path) -> value`` raising :class:`FieldError` (use :func:`fail`)."""

    def __init__(self, fn: Callable[[Any, str], Any], what: str):
        self.fn, self.what = fn, what

    def check(self, value, path, bounded=True):
        return self.fn(value, path)

    def describe(self):
        return self.what


# --- declarations ---------------------------------------------------------------------------

def setting(default: Any = MISSING, constraint: Constraint | None = None, doc: str = "", *,
            default_factory: Any = MISSING, toml: Iterable[str] | None = None, cli: str | None = None) -> Any:
    """A dataclass field with its constraint and doc string (the one declaration of a setting).

    ``toml``: the ``section.key`` spellings that fill it when they differ from the section's
    own table (StudyConfig's flat fields); ``cli``: the option name when it differs from
    ``--field-name``."""
    meta = {"constraint": constraint, "doc": doc, "toml": tuple(toml or ()), "cli": cli}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def constraint_of(cls: type, name: str) -> Constraint:
    """The declared constraint of field ``name`` of section ``cls``."""
    return {f.name: f for f in fields(cls)}[name].metadata["constraint"]


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
    allowed = set(allowed)
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise fail(where, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def validate_table(specs: Mapping[str, tuple[str, Constraint]], table: Mapping[str, Any], path: str
                   ) -> dict[str, Any]:
    """Check a TOML table against ``{key: (field name, constraint)}``; return ``{field: value}``
    in the order of ``specs`` (unknown keys first refused)."""
    check_keys(table, specs, path)
    out: dict[str, Any] = {}
    for key, (name, constraint) in specs.items():
        if key in table:
            out[name] = constraint.check(table[key], f"{path}.{key}" if path else key)
    return out


def section_specs(cls: type) -> dict[str, tuple[str, Constraint]]:
    """Every field of a section dataclass as ``{key: (field, constraint)}``; a field without a
    constraint is not a TOML key (e.g. ``StudyConfig.source``)."""
    return {f.name: (f.name, f.metadata["constraint"]) for f in fields(cls)
            if f.metadata.get("constraint") is not None}


def validate_section(cls: type, table: Mapping[str, Any], path: str) -> Any:
    """The one validator: a TOML table -> an instance of section ``cls``. Checks the keys, each
    value with its field's constraint, then the section's cross-field ``check()`` if any."""
    kw = validate_table(section_specs(cls), table, path)
    obj = cls(**kw)
    check = getattr(obj, "check", None)
    if callable(check):
        check()
    return obj


def check_instance(obj: Any, path: str = "", names: Iterable[str] | None = None) -> None:
    """Check a library-built instance's fields (types, choices, lower bounds; not the typo
    guards): ``None`` passes where the field's default is ``None``."""
    wanted = set(names) if names is not None else None
    for f in fields(obj):
        c = f.metadata.get("constraint")
        if c is None or (wanted is not None and f.name not in wanted):
            continue
        v = getattr(obj, f.name)
        if v is None and f.default is None:
            continue
        c.check(v, f"{path}.{f.name}" if path else f.name, bounded=False)
