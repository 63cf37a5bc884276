"""What the app waits for when it quits with runs in progress, and how to stop waiting."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from pipedeck.tui.widgets.key_footer import KeyFooter


class QuitScreen(ModalScreen[None]):
    """'Quitting: handing run 6 back… 3 s'; ctrl+q again stops at once (the app's binding)."""

    def __init__(self, waiting: list[str]) -> None:
        super().__init__()
        self.waiting = waiting
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm", id="quitting"):
            yield Static(Text("Quitting", style="bold"), classes="dialog-title")
            yield Static("", id="quit-waiting")
            yield Static(Text("ctrl+q again: stop now (runs still going go back to the queue, as when a worker is "
                              "stopped)", style="dim"), classes="dialog-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show()
        self.set_interval(0.25, self._show)

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        text = Text()
        for line in self.waiting:
            text.append(f"{line}… {elapsed:.0f} s\n")
        self.query_one("#quit-waiting", Static).update(text)
