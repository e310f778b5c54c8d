"""The typed trial record: what a trial stores in its Optuna user attrs, declared once
(and :class:`StudyRecord`, the same for the study's own attrs).

:class:`TrialRecord` is the only code that writes or reads a trial's user attributes
(``trial.set_user_attr`` / ``FrozenTrial.user_attrs``). The key names and JSON shapes are
exactly those stored before the record existed (optuna-dashboard and old studies read
them), so a study written by any version loads:

- ``TrialRecord.of(frozen_trial)`` / :meth:`TrialRecord.from_attrs` never fail on a stored
  dict: a missing key is ``None`` ("not stored"), an unknown key is kept in ``extra``;
- ``record_version`` is stored with every outcome (:data:`RECORD_VERSION`); absent means
  version 0, a study written before the record existed (same keys, nothing to migrate);
- :meth:`TrialRecord.write` writes some fields of a running trial; writes stay incremental
  (the worker stores ``worker`` then ``point`` before evaluating, for crash recovery).

No optuna import here: a trial is anything with ``set_user_attr`` (write) or
``user_attrs`` (read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, Optional

#: version of the stored record; bump it (and migrate in ``from_attrs``) when a key's meaning changes
RECORD_VERSION = 1
#: the user attr holding the version (absent: version 0, written before the record existed)
VERSION_KEY = "record_version"

#: trial status values (the ``status`` attr); Optuna's state says COMPLETE / PRUNED / FAIL
STATUS_COMPLETE = "complete"
STATUS_INFEASIBLE = "infeasible"
STATUS_ABANDONED = "abandoned"
STATUS_FAILED = "failed"
STATUS_SCREENED = "screened out"


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON values (numpy scalars -> Python numbers, anything else -> str)."""
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


@dataclass(frozen=True)
class _StoredAttrs:
    """Reading and writing a frozen record as Optuna user attrs (shared by the trial and the
    study record): one key per field, ``None`` = not stored, unknown keys kept in ``extra``,
    the version under :data:`VERSION_KEY`."""

    #: the record version it was written with (0: before the record existed)
    version: int = RECORD_VERSION
    #: stored keys this version does not know (kept, written back unchanged)
    extra: Mapping[str, Any] = field(default_factory=dict)

    #: the field whose write also stores the record version (set by each record class)
    _version_with: ClassVar[str] = ""
    _names: ClassVar[tuple[str, ...]] = ()
    _name_set: ClassVar[frozenset] = frozenset()

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]):
        """The record of a stored user-attrs dict; never raises on old or foreign keys."""
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in attrs.items():
            if k in cls._name_set:
                known[k] = v
            elif k != VERSION_KEY:
                extra[k] = v
        version = attrs.get(VERSION_KEY, 0)
        if not isinstance(version, int) or isinstance(version, bool):
            extra[VERSION_KEY], version = version, 0
        return cls(**known, version=version, extra=extra)

    @classmethod
    def of(cls, holder: Any):
        """The record of a trial (``FrozenTrial``/``Trial``) or a study (``Study``)."""
        return cls.from_attrs(holder.user_attrs)

    def to_attrs(self) -> dict[str, Any]:
        """The user-attrs dict: the inverse of :meth:`from_attrs` (stored fields, the
        version when not 0, the extra keys)."""
        out = {name: getattr(self, name) for name in self._names if getattr(self, name) is not None}
        if self.version:
            out[VERSION_KEY] = self.version
        out.update(self.extra)
        return out

    @classmethod
    def _check(cls, names: Any) -> None:
        for name in names:
            if name not in cls._name_set:
                raise TypeError(f"{cls.__name__} has no field {name!r}; fields: {', '.join(cls._names)}")

    @classmethod
    def get(cls, holder: Any, name: str) -> Any:
        """One stored field without building the whole record (for scans over every trial
        in a hot loop); None when not stored. ``TypeError`` for a name that is not a field."""
        cls._check((name,))
        return holder.user_attrs.get(name)

    @classmethod
    def write(cls, holder: Any, **values: Any) -> None:
        """Store some fields (``set_user_attr``), in the order given, as JSON values;
        ``TypeError`` for a name that is not a field (then nothing is written). Writing
        the class's version field (a trial's ``status``, a study's ``config``) also
        stores the record version."""
        cls._check(values)
        for name, value in values.items():
            holder.set_user_attr(name, jsonable(value))
        if cls._version_with in values:
            holder.set_user_attr(VERSION_KEY, RECORD_VERSION)


def _declare(cls: Any, version_with: str) -> Any:
    cls._names = tuple(f.name for f in fields(cls) if f.name not in ("version", "extra"))
    cls._name_set = frozenset(cls._names)
    cls._version_with = version_with
    return cls


@dataclass(frozen=True)
class TrialRecord(_StoredAttrs):
    """Everything a trial stores. ``None`` means "not stored" (to_attrs omits it).

    The dict and list fields are the stored JSON values themselves (read-only by
    convention: they may be shared with Optuna's cached trial)."""

    #: outcome: complete | infeasible | abandoned | failed | screened out (None while running)
    status: Optional[str] = None
    #: why the trial is not complete, or why it violates a cap; "" clears a retried attempt's
    reason: Optional[str] = None
    #: every metric by name (dse/metrics.py), values as the evaluator returned them
    metrics: Optional[Mapping[str, Any]] = None
    #: the hardware report's summary (``HwReport.summary()``): device, totals, fits, ...
    hw: Optional[Mapping[str, Any]] = None
    #: per-layer rows (``dse.evaluate.layer_rows``): scheme and costs
    hw_layers: Optional[list] = None
    #: the fine-tune result (``FinetuneResult.to_dict()`` + ``time_s``)
    finetune: Optional[Mapping[str, Any]] = None
    #: seconds per stage: hw_s, finetune_s, screen_s, total_s
    timing: Optional[Mapping[str, Any]] = None
    #: the screening stage's estimate and decision (issue 13)
    screen: Optional[Mapping[str, Any]] = None
    #: the last evaluation stage the trial reached: hardware | screen | the study's fidelity
    fidelity_reached: Optional[str] = None
    #: who ran it: {"host", "pid", ...} (``dse.study.storage.worker_id()``)
    worker: Optional[Mapping[str, Any]] = None
    #: the design point, ``DesignPoint.to_dict()``
    point: Optional[Mapping[str, Any]] = None
    #: hash of the point (``dse.study.point_key``): identical points are replayed, not re-run
    point_key: Optional[str] = None
    #: label of an enqueued baseline point ("fixed W8A8")
    baseline: Optional[str] = None
    #: number of the earlier trial whose outcome this one copies
    duplicate_of: Optional[int] = None
    #: ``dse allocate``: the allocation's summary and its bit-serial pricing
    allocator: Optional[Mapping[str, Any]] = None

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    @property
    def is_baseline(self) -> bool:
        return self.baseline is not None

    def metric(self, name: str) -> Optional[float]:
        """A stored metric as a float; None when absent or not a number."""
        v = (self.metrics or {}).get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def plan(self, study_name: str, number: int, complete: bool) -> Optional[dict[str, Any]]:
        """What ``dse export --trial N --plan-out`` writes: the point plus study, trial and
        (for a complete trial) its metrics; None without a stored point."""
        if not self.point:
            return None
        plan = dict(self.point)
        plan["study"] = study_name
        plan["trial"] = number
        if complete:
            plan["metrics"] = self.metrics if self.metrics is not None else {}
        return plan

_declare(TrialRecord, "status")
#: a trial's stored keys, in declaration order (``version`` and ``extra`` are not stored keys)
FIELDS: tuple[str, ...] = TrialRecord._names


def baseline_attrs(label: str) -> dict[str, Any]:
    """User attrs of an enqueued baseline trial (``Study.enqueue_trial(user_attrs=...)``)."""
    return {"baseline": label}


@dataclass(frozen=True)
class StudyRecord(_StoredAttrs):
    """What ``dse search`` stores on the study itself (``study.user_attrs``); ``None`` = not
    stored. Read with ``StudyRecord.of(study)``, write with ``StudyRecord.write(study, ...)``."""

    #: the validated config, ``StudyConfig.to_dict()`` (a resumed study must match it)
    config: Optional[Mapping[str, Any]] = None
    #: the config as the user gave it (TOML as a dict); workers rebuild the config from it
    raw_config: Optional[Mapping[str, Any]] = None
    #: where the config came from (a path, or "<built-in digits demo>")
    config_source: Optional[str] = None
    workload: Optional[str] = None
    #: hardware model name
    hwmodel: Optional[str] = None
    #: FPGA part the points are priced on ("" when searched)
    device: Optional[str] = None
    #: objective names (dse/metrics.py), in the order of the trial values
    objectives: Optional[list] = None
    directions: Optional[list] = None
    #: caps as written ("lut <= 20000")
    caps: Optional[list] = None
    sampler: Optional[str] = None
    seed: Optional[int] = None
    #: the workload's compute layers: name, macs, weights, M, K, N
    layers: Optional[list] = None
    created_unix: Optional[float] = None
    dse_version: Optional[str] = None
    #: baselines the space could not express
    baseline_notes: Optional[list] = None
    #: the trial budget of the last ``dse search`` run
    target_trials: Optional[int] = None
    #: ``dse validate``: {"<trial number>": result} (on the study: Optuna refuses attrs on finished trials)
    rtl_validation: Optional[Mapping[str, Any]] = None


_declare(StudyRecord, "config")


#: Optuna's ``TrialState`` values (an ``IntEnum``): compared as ints here so the counting below
#: works on Optuna's trials and on :mod:`dse.peek`'s Optuna-free views alike.
_RUNNING, _COMPLETE, _PRUNED, _FAIL, _WAITING = range(5)


def status_counts_of(trials: Any) -> dict[str, int]:
    """How a study's trials ended, by dse status: complete, infeasible, abandoned, failed,
    duplicate, running, waiting, "screened out" (only when some were), crashed_and_retried.
    ``trials``: objects with ``state`` (Optuna's ``TrialState`` or its int value),
    ``user_attrs`` and ``system_attrs``."""
    counts = {"complete": 0, "infeasible": 0, "abandoned": 0, "failed": 0, "duplicate": 0, "running": 0,
              "waiting": 0}
    retried = set()
    for t in trials:
        if "failed_trial" in t.system_attrs:
            retried.add(int(t.system_attrs["failed_trial"]))
        if t.state == _RUNNING:
            counts["running"] += 1
        elif t.state == _WAITING:
            counts["waiting"] += 1
        elif TrialRecord.get(t, "duplicate_of") is not None:
            counts["duplicate"] += 1
        elif t.state == _FAIL:
            counts["failed"] += 1
        elif t.state == _PRUNED and (status := TrialRecord.get(t, "status")) == STATUS_SCREENED:
            counts[STATUS_SCREENED] = counts.get(STATUS_SCREENED, 0) + 1  # issue 13; key only when screening
        elif t.state == _PRUNED:
            counts[status if status in counts else "infeasible"] += 1
        else:
            counts["complete"] += 1
    counts["crashed_and_retried"] = len(retried)
    return counts
