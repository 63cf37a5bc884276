"""Responsive columns: which of a table's columns fit a width, and how wide each is.

Pure functions, no Textual, so any table widget can use them (the DataTable
based tables here, a line-API table for a million runs later):

- each column has a priority (0: always shown; the larger, the sooner it
  goes) and a minimum width;
- when the columns do not fit, the least important shrink to their minimum,
  then go, one at a time, and the rest get their room back;
- the text column (``flex``: a summary, a title) takes whatever is left;
  with ``prefer`` set, columns of priority 2 and up give way before it gets
  narrower than that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from rich.cells import cell_len

TEXT_FLOOR = 4  # the narrowest a text column gets when nothing else can give way


@dataclass(frozen=True)
class Col:
    key: str
    title: str
    priority: int = 1  # 0: never dropped; the larger the number, the sooner it goes when space runs out
    min: int = 0  # narrowest it is shown (0: its title's width)
    max: int | None = None  # widest its content makes it (None: no limit)
    width: int | None = None  # a fixed width, whatever the content (cells patched live keep their place)
    flex: bool = False  # takes the width that is left (one text column per table)
    prefer: int | None = None  # a text column's width worth dropping columns of priority 2 and up for
    justify: str = "left"

    @property
    def min_width(self) -> int:
        return self.width if self.width is not None and not self.flex else (self.min or cell_len(self.title))

    def natural(self, content: int) -> int:
        """How wide the column wants to be for content ``content`` cells wide."""
        if self.width is not None:
            return self.width
        wanted = max(content, cell_len(self.title))
        if self.max is not None:
            wanted = min(wanted, max(self.max, cell_len(self.title)))
        return max(wanted, self.min_width)


def fit(columns: Sequence[Col], width: int, content: dict[str, int] | None = None,
        padding: int = 2) -> list[tuple[Col, int]]:
    """The columns shown in ``width`` cells, in order, each with its width (``padding`` cells each besides).

    ``content`` gives the widest cell of each column (by key).
    """
    content = content or {}
    layout = _fit(columns, width, content, padding)
    short = [c for c in columns if c.flex and c.prefer and dict((k.key, w) for k, w in layout).get(c.key, 0) < c.prefer]
    if short:
        # Would the text column get its preferred width if only less important columns went?
        relaxed = [replace(c, min=c.prefer) if c in short else c for c in columns]
        alternative = _fit(relaxed, width, content, padding)
        gone = {c.key for c, _ in layout} - {c.key for c, _ in alternative}
        widths = dict((c.key, w) for c, w in alternative)
        if all(c.priority >= 2 for c in columns if c.key in gone) and \
                all(widths.get(c.key, 0) >= c.prefer for c in short):
            declared = {c.key: c for c in columns}
            return [(declared[c.key], w) for c, w in alternative]
    return layout


def _fit(columns: Sequence[Col], width: int, content: dict[str, int], padding: int) -> list[tuple[Col, int]]:
    shown = list(columns)

    def natural() -> dict[str, int]:
        return {c.key: c.min_width if c.flex else c.natural(content.get(c.key, 0)) for c in shown}

    def shrink(widths: dict[str, int], level: int) -> int:
        """Narrow this level's columns (the rightmost first) as far as needed; the excess left."""
        excess = sum(widths.values()) + padding * len(shown) - width
        for c in reversed([c for c in shown if c.priority == level and not c.flex]):
            if excess <= 0:
                break
            give = min(excess, widths[c.key] - c.min_width)
            widths[c.key] -= give
            excess -= give
        return excess

    widths = natural()
    excess = sum(widths.values()) + padding * len(shown) - width
    # The least important level first: its columns shrink, then go one by one, before the next level's do.
    for level in sorted({c.priority for c in columns if c.priority > 0}, reverse=True):
        if excess <= 0:
            break
        excess = shrink(widths, level)
        for c in reversed([c for c in shown if c.priority == level]):
            if excess <= 0:
                break
            shown.remove(c)
            widths = natural()
            excess = shrink(widths, level)
    if excess > 0:
        # Only columns that always show are left: as a last resort the text column goes below its
        # minimum (it takes what is left, however little), then the others shrink to theirs.
        for c in sorted(shown, key=lambda c: not c.flex):
            floor = TEXT_FLOOR if c.flex else c.min_width
            give = max(0, min(excess, widths[c.key] - floor))
            widths[c.key] -= give
            excess -= give
    flex = [c for c in shown if c.flex]
    if flex:
        left = width - sum(widths.values()) - padding * len(shown)
        for n, c in enumerate(flex):
            share = left // len(flex) + (1 if n < left % len(flex) else 0)
            widths[c.key] += max(0, share)
    return [(c, widths[c.key]) for c in shown]
