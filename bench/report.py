"""Tables generated, not retyped: rewrite the part of a Markdown file between
`<!-- bench:begin -->` and `<!-- bench:end -->` from the JSON of bench runs.

    python -m bench.report RUN.json [RUN.json ...] docs/bench.md

Each JSON (`python -m bench --json`, or scripts/gpu_check.py's gpu_check.json) becomes one
table under a line that says what ran, where and how long it took; everything outside the
markers stays as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.table import table_lines

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def section(report: dict) -> str:
    """One run's table with its heading line."""
    if "versions" in report:  # a GPU check
        v = report["versions"]
        heading = (f"**GPU check** on {v['device']} ({'quick' if report['quick'] else 'full'} run, "
                   f"{report['seconds']:.0f} s; CUDA tests: {report['cuda_tests']['summary']})")
    else:
        command = report.get("command", "python -m bench")
        title = report.get('title', 'bench')
        heading = f"**{title[:1].upper() + title[1:]}** (`{command}`"
        heading += f", {report['seconds']:,.0f} s" if "seconds" in report else ""
        heading += f"; {report['machine']})"
    table = [line for line in table_lines(report["rows"]) if line.startswith("|")]  # the notes stay in the JSON
    return "\n".join([heading + ":", "", *table])


def rewrite(text: str, reports: list[dict]) -> str:
    """`text` with the part between the markers replaced by the reports' tables."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"the file needs one {BEGIN} line and one {END} line after it")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return head + BEGIN + "\n" + "\n\n".join(section(r) for r in reports) + "\n" + END + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="JSON files of bench runs, in the order of their tables")
    parser.add_argument("markdown", type=Path, help="the file whose marked part is rewritten")
    args = parser.parse_args(argv)
    try:
        reports = [json.loads(path.read_text()) for path in args.runs]
        args.markdown.write_text(rewrite(args.markdown.read_text(), reports))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
