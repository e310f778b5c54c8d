"""``dse report``: write a study's HTML report from its storage."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_storage, add_study


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a study's self-contained HTML report (Pareto front, details, progress)",
                       description="Read a study from its storage and write one HTML file that opens offline: "
                       "Pareto front, per-layer allocation, resources, search progress, the Pareto set as CSV, "
                       "and why points were infeasible. Nothing is re-run.")
    add_storage(p)
    add_study(p, help="study name (may be omitted when the storage holds one study)")
    p.add_argument("-o", "--output", help="HTML file to write (default reports/<study>.html)")
    p.add_argument("--plain-js", action="store_true",
                   help="embed plotly.js uncompressed (about 3 MB larger) for browsers without DecompressionStream")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..study.storage import load_named_study
    from ..report.html import report_stem

    if args.output is not None:
        from .search import check_output_file

        check_output_file(args.output, "-o/--output")
    study, url = load_named_study(args.storage, args.study, "report")
    name = study.study_name
    from ..report import write_report
    from ..study import status_counts

    path = Path(args.output) if args.output else Path("reports") / f"{report_stem(name)}.html"
    try:
        write_report(study, path, compress_js=not args.plain_js, storage_url=url)
    except OSError as e:  # a full disk: write_report leaves no half-written page; one line naming the file
        raise OSError(e.errno, e.strerror, str(path)) from None
    counts = status_counts(study)
    size_mb = path.stat().st_size / 1e6
    if counts["complete"] == 0:
        print(f"report: study {name!r} has no completed trials yet; the page says so: {path} ({size_mb:.1f} MB)")
    else:
        from ..study import pareto_trials

        print(f"report: {path} ({len(pareto_trials(study))} Pareto points of {counts['complete']} complete trials, "
              f"{size_mb:.1f} MB)")
    return 0
