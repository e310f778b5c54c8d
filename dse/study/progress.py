"""The search's progress line: trials done of the budget, feasible count, Pareto-front size
and the best value seen per objective.

On a terminal it is one line redrawn in place that always fits the terminal's width (80
columns included: the best values are shortened, then dropped, before anything wraps); when
the output is not a terminal (a log file, CI) it prints plain lines, one per 10 % of the
budget (or per minute when there is no budget) and one at the end. The count never shows
more done than the budget: trials finished by other workers past it are reported apart.

It is an Optuna-style callback, ``progress(study, trial)``, fed each finished trial by
``dse.study.run_worker(on_trial=...)``; it keeps its own running front (a trial costs
O(front)). Built with ``study=``, it counts from the storage instead: the trials finished
before it started (queued baselines, still WAITING, are not done: they are counted once,
when they finish) and every trial any worker finishes while it runs, read with one
``get_trials(deepcopy=False)`` per finished trial (the worker loop reads as much anyway).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, Optional, Sequence, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..metrics import METRICS
from ..record import TrialRecord
from .pareto import dominates
from .summary import feasible, retried_numbers

#: narrowest line drawn (a terminal narrower than this gets plain lines)
MIN_WIDTH = 40
#: plain lines: one per this share of the budget
PLAIN_STEP = 0.1
#: plain lines without a budget: at most one per this many seconds
PLAIN_EVERY_S = 60.0
#: redraws on a terminal: at most one per this many seconds (the last one always)
TTY_EVERY_S = 0.1


#: states of a trial that is done (it counts once it reaches one)
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

#: short objective names for narrow terminals (the metric table's)
_ABBREV = {name: m.short for name, m in METRICS.items()}


def _short_value(name: str, v: float) -> str:
    """Compact value for the progress line (units, 3 significant digits)."""
    if name.endswith("accuracy"):
        return f"{100 * v:.1f}%"
    for suffix, units in (("_s", ((1, "s"), (1e3, "ms"), (1e6, "us"), (1e9, "ns"))),
                          ("_j", ((1, "J"), (1e3, "mJ"), (1e6, "uJ"), (1e9, "nJ")))):
        if name.endswith(suffix):
            for scale, unit in units:
                if abs(v) * scale >= 1 or unit in ("ns", "nJ"):
                    return f"{v * scale:.3g} {unit}"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.4g}" if a >= 1 else f"{v:.3g}"


class Progress:
    """Progress of a search: call it with each finished trial, then :meth:`close`.

    ``total``: the budget (None: open-ended, e.g. a timeout); ``initial``: trials already
    done when the search (re)started; ``directions``: "minimize"/"maximize" per objective
    (default: maximise accuracy, minimise the rest). ``stream``: where to write (stderr);
    ``width``: columns (default: the terminal's). ``enabled=False`` makes it silent.
    ``study``: count from the study's storage (see the module docstring); ``initial`` is then
    ignored: the trials finished before now are counted, queued (WAITING) ones are not.
    """

    def __init__(self, total: Optional[int], initial: int, objectives: Sequence[str], enabled: bool = True,
                 directions: Optional[Sequence[str]] = None, stream: Optional[TextIO] = None,
                 width: Optional[int] = None, clock: Callable[[], float] = time.monotonic,
                 study: Optional[optuna.Study] = None):
        self.total = total
        self.study = study
        #: numbers of the finished trials already counted (storage mode)
        self._seen: set[int] = set()
        if study is not None:
            trials = study.get_trials(deepcopy=False)
            retried = retried_numbers(trials)
            self._seen = {t.number for t in trials if t.state in _FINISHED and t.number not in retried}
            initial = len(self._seen)
        self.done = max(0, int(initial))
        self.initial = self.done
        #: trials finished by other workers since the start (storage mode)
        self.others = 0
        self.objectives = list(objectives)
        self.directions = list(directions) if directions else [
            "maximize" if o.endswith("accuracy") else "minimize" for o in self.objectives]
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.t0 = clock()
        self.feasible = 0
        self.front: list[tuple[float, ...]] = []  # minimisation form
        self._width = width
        self.tty = bool(enabled and hasattr(self.stream, "isatty") and self.stream.isatty())
        self._last_draw = -1e9
        self._last_plain_step = -1
        self._last_plain_t = self.t0
        self._drawn = False
        if self.tty and self._columns() < MIN_WIDTH:
            self.tty = False
        if self.enabled and self.tty:
            self._draw(force=True)

    # --- state -------------------------------------------------------------------------------

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, AttributeError, ValueError):
            return shutil.get_terminal_size((80, 24)).columns

    def _sync(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Count every trial finished since the last call (this worker's ``trial`` and any
        other worker's), each once."""
        trials = study.get_trials(deepcopy=False)
        retried = retried_numbers(trials)
        new = [t for t in trials if t.state in _FINISHED and t.number not in retried and t.number not in self._seen]
        if trial.number not in self._seen and all(t.number != trial.number for t in new):
            new.append(trial)  # not yet visible in this storage view
        for t in new:
            self._seen.add(t.number)
            self._add(t)
            if t.number != trial.number:
                self.others += 1

    def _add(self, trial: FrozenTrial) -> None:
        self.done += 1
        if (trial.state != TrialState.COMPLETE or trial.values is None
                or TrialRecord.get(trial, "duplicate_of") is not None):
            return
        if not feasible(trial):
            return
        self.feasible += 1
        p = tuple(-v if d == "maximize" else v for v, d in zip(trial.values, self.directions))
        if any(dominates(q, p) or q == p for q in self.front):
            return
        self.front = [q for q in self.front if not dominates(p, q)] + [p]

    def best(self) -> list[tuple[str, float]]:
        out = []
        for j, (o, d) in enumerate(zip(self.objectives, self.directions)):
            if self.front:
                v = min(q[j] for q in self.front)
                out.append((o, -v if d == "maximize" else v))
        return out

    # --- text ----------------------------------------------------------------------------------

    def _count(self) -> str:
        if self.total is None:
            return f"{self.done} trials" + (f" ({self.others} by other workers)" if self.others else "")
        shown = min(self.done, self.total)
        extra = self.done - shown
        if extra > 0:
            return f"{shown}/{self.total} (+{extra} by other workers)"
        return f"{shown}/{self.total}" + (f" ({self.others} by other workers)" if self.others else "")

    def _elapsed(self) -> str:
        s = int(self.clock() - self.t0)
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"

    def line(self, width: Optional[int] = None) -> str:
        """The progress text, at most ``width - 1`` characters (a full-width line wraps on
        some terminals): the bar, then the objectives' full names, then best values, one by
        one from the last, are dropped until it fits."""
        width = (width or self._columns()) - 1
        count = f"trials {self._count()}"
        bar = ""
        if self.total:
            filled = min(10, round(10 * min(self.done, self.total) / self.total))
            bar = " [" + "#" * filled + "." * (10 - filled) + "]"
        rest = f" | feasible {self.feasible} | front {len(self.front)} | {self._elapsed()}"
        best = self.best()
        full = [f"{o} {_short_value(o, v)}" for o, v in best]
        short = [f"{_ABBREV.get(o, o[:6])} {_short_value(o, v)}" for o, v in best]
        candidates = []
        if best:
            candidates += [count + bar + rest + " | best " + ", ".join(full),
                           count + rest + " | best " + ", ".join(full)]
            candidates += [count + rest + " | best " + ", ".join(short[:k]) + ("" if k == len(short) else ", ...")
                           for k in range(len(short), 0, -1)]
        candidates += [count + bar + rest, count + rest]
        for c in candidates:
            if len(c) <= width:
                return c
        return (count + rest)[: max(0, width)]  # very narrow: cut

    # --- output ----------------------------------------------------------------------------------

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_draw < TTY_EVERY_S:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()
        self._drawn = True

    def _plain(self, force: bool = False) -> None:
        now = self.clock()
        if self.total:
            step = int(min(self.done - self.initial, self.total) / max(1, self.total * PLAIN_STEP))
            due = step > self._last_plain_step
            if due:
                self._last_plain_step = step
        else:
            due = now - self._last_plain_t >= PLAIN_EVERY_S
        if due or force:
            self._last_plain_t = now
            self.stream.write(self.line(width=200) + "\n")
            self.stream.flush()

    def __call__(self, study: Optional[optuna.Study], trial: FrozenTrial) -> None:
        if not self.enabled:
            return  # silent: no count kept, no storage read
        if self.study is not None:
            self._sync(study if study is not None else self.study, trial)
        else:
            self._add(trial)
        if self.tty:
            self._draw(force=self.total is not None and self.done >= self.total)
        else:
            self._plain()

    def close(self) -> None:
        """Leave the last state on screen (a terminal line ends, a plain line is written)."""
        if not self.enabled:
            return
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        elif self.done > self.initial or self._last_plain_step < 0:
            self._plain(force=True)
        self.enabled = False


def complete_message(study: str, done: int, target: int, rerun: str) -> str:
    """What ``dse search`` says, at once, when a study's budget is already spent:
    ``rerun`` is the command that was run, without ``--trials``."""
    return (f"study {study!r} is complete: {done} of {target} trials done, nothing to run. "
            f"To run more, raise the budget: {rerun} --trials {max(done, target) + max(10, target // 2)}")
