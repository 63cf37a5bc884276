"""The always-visible line: is a worker alive, how much is queued and running, is refresh live."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from pipedeck.tui.messages import StatusInfo


def render_status(info: StatusInfo) -> Text:
    """Most important first, so an 80-column terminal still shows the worker and the queue."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" pipedeck ", style="bold reverse")
    text.append("  ")
    if info.database_unreachable:
        text.append(" ⚠ database unreachable — retrying ", style="bold white on red")
        text.append("  ")
    if not info.live:
        pass
    elif info.paused:
        text.append("⏸ REFRESH PAUSED (p) ", style="bold black on yellow")
        text.append("  ")
    if not info.loaded:
        text.append("checking workers…", style="dim")
    elif info.workers_alive:
        noun = "worker" if info.workers_alive == 1 else "workers"
        text.append(f"● {info.workers_alive} {noun} alive", style="bold green")
        if info.child == "running":
            text.append(" (started here)", style="green")
    elif info.child == "running":
        text.append("◌ worker starting…", style="yellow")
    else:
        text.append("⚠ no worker alive", style="bold red")
        text.append(" — w: start one in background · D: direct mode", style="yellow")
        if info.child.startswith("exited"):
            text.append(f" (the worker this app started {info.child})", style="red")
    text.append("  ")
    waiting = info.queued + info.retrying
    text.append(f"queued {waiting}", style="bold" if waiting else "dim")
    text.append(" · ")
    text.append(f"running {info.running + info.cancelling}", style="bold cyan" if info.running else "dim")
    if info.retrying:
        text.append(f" (retrying {info.retrying})", style="yellow")
    if info.direct_active:
        text.append(f" · direct {info.direct_active}", style="magenta")
    if info.direct_default:
        text.append("  direct mode on (D)", style="bold magenta")
    if not info.live:
        text.append("  refresh frozen", style="dim")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $panel; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status_info", self._show, init=True)

    def _show(self, info: StatusInfo) -> None:
        self.update(render_status(info))
