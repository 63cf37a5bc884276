"""Responsive columns: which of a table's columns fit a width, and how wide each is.

Pure functions, no Textual, so any table widget can use them (the DataTable
based tables here, a line-API table for a million runs later):

- each column has a priority (0: always shown; the larger, the sooner it
  goes) and a minimum width;
- when the columns do not fit, the least important shrink to their minimum,
  then go, one at a time, and the rest get their room back;
- the text column (``flex``: a summary, a title) takes whatever is left.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    shown = list(columns)
    while True:
        widths = {c.key: c.min_width if c.flex else c.natural(content.get(c.key, 0)) for c in shown}
        excess = sum(widths.values()) + padding * len(shown) - width
        if excess <= 0:
            break
        # Shrink the least important first (the rightmost of equals first), down to their minimum.
        for c in sorted((c for c in shown if not c.flex), key=lambda c: (-c.priority, -shown.index(c))):
            if c.priority == 0:
                continue
            give = min(excess, widths[c.key] - c.min_width)
            widths[c.key] -= give
            excess -= give
            if excess <= 0:
                break
        if excess <= 0:
            break
        droppable = [c for c in shown if c.priority > 0]
        if not droppable:
            # Only columns that always show are left: as a last resort the text column goes below its
            # minimum (it takes what is left, however little), then the others shrink to theirs.
            for c in sorted(shown, key=lambda c: not c.flex):
                floor = TEXT_FLOOR if c.flex else c.min_width
                give = max(0, min(excess, widths[c.key] - floor))
                widths[c.key] -= give
                excess -= give
            break
        shown.remove(max(droppable, key=lambda c: (c.priority, shown.index(c))))
    flex = [c for c in shown if c.flex]
    if flex:
        left = width - sum(widths.values()) - padding * len(shown)
        for n, c in enumerate(flex):
            share = left // len(flex) + (1 if n < left % len(flex) else 0)
            widths[c.key] += max(0, share)
    return [(c, widths[c.key]) for c in shown]
