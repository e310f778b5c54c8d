"""The hypervolume table the search benchmarks print (bench_search.py, bench_multifidelity.py):
one row per seed and a mean row, one column per method, then ratios between columns."""

from __future__ import annotations

import statistics
from typing import Hashable, Mapping, Sequence


def hv_table(hv: Mapping[tuple[Hashable, int], float], names: Sequence[Hashable], seeds: Sequence[int],
             ratios: Sequence[tuple[str, int, int]]) -> list[str]:
    """Lines of the table. ``hv[(name, seed)]``: a run's hypervolume; ``ratios``: columns
    ``(label, i, j)`` showing ``names[i] / names[j]``, each as wide as its label."""
    def line(tag: str, row: list[float]) -> str:
        return (f"{tag:<4}  " + "  ".join(f"{v:8.4f}" for v in row) + "   "
                + "  ".join(f"{row[i] / row[j]:{len(label)}.3f}" if row[j] else f"{'-':>{len(label)}}"
                           for label, i, j in ratios))

    head = "seed  " + "  ".join(f"{n:>8}" for n in names) + "   " + "  ".join(label for label, _, _ in ratios)
    rows = [line(str(seed), [hv[(n, seed)] for n in names]) for seed in seeds]
    means = [statistics.mean(hv[(n, s)] for s in seeds) for n in names]
    return [head, *rows, line("mean", means)]
