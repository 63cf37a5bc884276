"""The footer: every key of the current screen, then as many of the app's keys as fit, on two lines.

Textual's Footer is one line and cuts off what does not fit, so at 120
columns (and far worse at 80) a screen's last keys were simply not there.
This footer wraps between keys, never inside one, up to MAX_LINES lines.
The screen's own keys always show; of the app's (which `?` lists anyway)
the most useful are kept while they fit: help, quit, the views, the
palette, then the worker, direct mode and pause. Each key is clickable, as
in Textual's.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from pipedeck.tui.widgets.sorting import SORT

MAX_LINES = 2
# The app's keys in the order they give way when the footer is full (first kept longest).
# The focused table's sort keys ("o") count among them: the header shows the sort, ? lists the keys.
APP_KEY_PRIORITY = ("question_mark", "ctrl+q", "o", "1", "ctrl+p", "w", "W", "D", "p")


@dataclass(frozen=True)
class FooterItem:
    keys: tuple[tuple[str, str], ...]  # (as shown, what a click presses): one pair, or a group's ("1", "1"), ...
    description: str
    enabled: bool = True
    optional: bool = False  # an app key: left out when the screen's own keys need the room

    @property
    def width(self) -> int:
        return sum(cell_len(shown) for shown, _ in self.keys) + cell_len(self.description) + 3  # " keys description "


def fit(items: list[FooterItem], width: int, max_lines: int = MAX_LINES) -> list[FooterItem]:
    """Every required item, and the optional ones (in priority order) while all fit in ``max_lines``."""
    chosen = [item for item in items if not item.optional]
    ranked = sorted((i for i in items if i.optional), key=lambda i: _rank(i.keys[0][1]))
    for item in ranked:
        trial = [i for i in items if i in chosen or i is item]
        if len(pack(trial, width)) <= max_lines:
            chosen.append(item)
    return [i for i in items if i in chosen]


def _rank(key: str) -> int:
    return APP_KEY_PRIORITY.index(key) if key in APP_KEY_PRIORITY else len(APP_KEY_PRIORITY)


def pack(items: list[FooterItem], width: int) -> list[list[FooterItem]]:
    """Items in lines no wider than ``width`` (an item wider than a line gets a line of its own)."""
    lines: list[list[FooterItem]] = []
    used = width + 1
    for item in items:
        if used + item.width > width:
            lines.append([])
            used = 0
        lines[-1].append(item)
        used += item.width
    return lines


class KeyFooter(Widget, can_focus=False):
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description"}
    DEFAULT_CSS = f"""
    KeyFooter {{
        dock: bottom;
        height: auto;
        max-height: {MAX_LINES};
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key {{
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }}
        .key-footer--description {{
            color: $footer-description-foreground;
            background: $footer-description-background;
        }}
    }}
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh(layout=True)

    def items(self) -> list[FooterItem]:
        """The screen's shown bindings, one item per action (its first key); a binding group as one item;
        the command palette last."""
        slots: dict[object, list] = {}  # a binding group, or an action -> its (binding, enabled), in order
        app_slots: set = set()
        palette = None
        hidden = getattr(self.screen, "hidden_in_footer", lambda binding: False)
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = (binding, enabled)
            elif binding.show and not hidden(binding):
                name = binding.group if binding.group is not None else binding.action
                slot = slots.setdefault(name, [])
                if node is self.app or binding.group is SORT:
                    app_slots.add(name)
                if all(b.action != binding.action for b, _ in slot):
                    slot.append((binding, enabled))
        items = [self._item([b for b, _ in members],
                            slot.description if len(members) > 1 else members[0][0].description,
                            any(e for _, e in members), optional=slot in app_slots)
                 for slot, members in slots.items()]
        if palette is not None:
            binding, enabled = palette
            items.append(self._item([binding], binding.description or "palette", enabled, optional=True))
        # The screen's keys first, then the app's in the order it declares them, quit last.
        declared = [b.key for b in self.app.BINDINGS if b.key != "ctrl+q"] + [self.app.COMMAND_PALETTE_BINDING,
                                                                              "ctrl+q"]

        def place(item: FooterItem) -> tuple[int, int]:
            key = item.keys[0][1]
            return (1, declared.index(key) if key in declared else len(declared)) if item.optional else (0, 0)

        return sorted(items, key=place)

    def shown(self, width: int) -> list[FooterItem]:
        """The items the footer shows at ``width``."""
        return fit(self.items(), width)

    def _item(self, bindings: list, description: str, enabled: bool, optional: bool = False) -> FooterItem:
        return FooterItem(tuple((self.app.get_key_display(b), b.key) for b in bindings), description, enabled,
                          optional)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, min(MAX_LINES, len(pack(self.shown(width), width))))

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        width = self.size.width or 80
        lines = pack(self.shown(width), width)
        text = Text(no_wrap=True, overflow="crop")
        for n, line in enumerate(lines[:MAX_LINES]):
            if n:
                text.append("\n")
            for item in line:
                dim = Style(dim=True) if not item.enabled else Style()
                first_key = item.keys[0][1]
                text.append(" ", key_style + dim + self._click(first_key))
                for shown, key in item.keys:
                    text.append(shown, key_style + dim + self._click(key))
                text.append(" ", key_style + dim + self._click(item.keys[-1][1]))
                text.append(f"{item.description} ", description_style + dim + self._click(first_key))
        return text

    @staticmethod
    def _click(key: str) -> Style:
        return Style.from_meta({"@click": f"app.simulate_key({key!r})"})
