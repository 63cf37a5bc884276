"""The footer: every key of the current screen, on as many lines as the width needs.

Textual's Footer is one line and cuts off what does not fit, so at 120
columns (and far worse at 80) a screen's last keys were simply not there.
This footer wraps between keys, never inside one, up to MAX_LINES lines;
each key is still clickable, as in Textual's.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

MAX_LINES = 3


@dataclass(frozen=True)
class FooterItem:
    keys: tuple[tuple[str, str], ...]  # (as shown, what a click presses): one pair, or a group's ("1", "1"), ...
    description: str
    enabled: bool = True

    @property
    def width(self) -> int:
        return sum(cell_len(shown) for shown, _ in self.keys) + cell_len(self.description) + 3  # " keys description "


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
        palette = None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = (binding, enabled)
            elif binding.show:
                slot = slots.setdefault(binding.group if binding.group is not None else binding.action, [])
                if all(b.action != binding.action for b, _ in slot):
                    slot.append((binding, enabled))
        items = [self._item([b for b, _ in members],
                            slot.description if len(members) > 1 else members[0][0].description,
                            any(e for _, e in members))
                 for slot, members in slots.items()]
        if palette is not None:
            binding, enabled = palette
            items.append(self._item([binding], binding.description or "palette", enabled))
        return items

    def _item(self, bindings: list, description: str, enabled: bool) -> FooterItem:
        return FooterItem(tuple((self.app.get_key_display(b), b.key) for b in bindings), description, enabled)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, min(MAX_LINES, len(pack(self.items(), width))))

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        lines = pack(self.items(), self.size.width or 80)
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
