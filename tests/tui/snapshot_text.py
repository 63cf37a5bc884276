"""Print the text of snapshot SVGs, line by line, to review them without a browser.

    python -m tests.tui.snapshot_text tests/tui/__snapshots__/test_tui_snapshots/*.svg

Each ``<text>`` element of Textual's SVG export is a run of cells on one line
(``clip-path`` names the line, ``x`` the column at 12.2 px a cell); runs are put
back at their columns, so what is cut or misaligned shows as it does on screen.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

CELL = 12.2  # px per cell in Textual's SVG export
_RUN = re.compile(r'<text class="terminal-[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                  r'clip-path="url\(#terminal-line-(\d+)\)">([^<]*)</text>')


def svg_lines(svg: str) -> list[str]:
    lines: dict[int, list[str]] = {}
    for x, line, text in _RUN.findall(svg):
        row = lines.setdefault(int(line), [])
        column = round(float(x) / CELL)
        text = html.unescape(text).replace("\xa0", " ")
        if len(row) < column:
            row.extend(" " * (column - len(row)))
        row[column:column + len(text)] = list(text)
    return ["".join(lines.get(n, [])).rstrip() for n in range(max(lines, default=-1) + 1)]


def main(paths: list[str]) -> None:
    for path in paths:
        lines = svg_lines(Path(path).read_text())
        print(f"== {Path(path).name} ({len(lines)} lines)")
        for line in lines:
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
