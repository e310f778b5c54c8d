"""Pareto reports: one self-contained HTML page per study, read from its storage alone.

:func:`write_report` is what ``dse search`` and ``dse report`` call; :func:`report_data`
gives the same content as plain dicts (for tests, or another front end). What each
section shows and how to read it: ``docs/report.md``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import optuna

from .data import report_data
from .html import render_page

__all__ = ["build_report_html", "report_data", "write_report"]


def build_report_html(study: optuna.Study, compress_js: bool = True, storage_url: Optional[str] = None) -> str:
    """The report of ``study`` as one HTML document (no network needed to view it).

    ``compress_js=False`` embeds plotly.js as plain text (about 3 MB more) for browsers
    without ``DecompressionStream``. ``storage_url`` (where the study was opened from) makes
    the page's commands exact (``dse export --storage URL ...``).
    """
    return render_page(report_data(study, storage_url=storage_url), compress_js=compress_js)


def write_report(study: optuna.Study, path: str | Path, compress_js: bool = True,
                 storage_url: Optional[str] = None) -> Path:
    """Write the report of ``study`` to ``path`` (parents created, replaced atomically)."""
    path = Path(path)
    text = build_report_html(study, compress_js=compress_js, storage_url=storage_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:  # a full disk, Ctrl-C mid-write: no half-written temp file left behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path
