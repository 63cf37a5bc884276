"""The always-visible line: is a worker alive, how much is queued and running, is refresh live."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from pipedeck.tui.messages import StatusInfo


def render_status(info: StatusInfo) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" pipedeck ", style="bold reverse")
    text.append("  ")
    if not info.loaded:
        text.append("checking workers…", style="dim")
    elif info.workers_alive:
        noun = "worker" if info.workers_alive == 1 else "workers"
        text.append(f"● {info.workers_alive} {noun} alive", style="bold green")
        if info.child == "running":
            text.append(" (started by this app)", style="green")
    elif info.child == "running":
        text.append("◌ worker starting…", style="yellow")
    else:
        text.append("⚠ no worker alive", style="bold red")
        text.append(" — w: start one in background · D: direct mode", style="yellow")
        if info.child.startswith("exited"):
            text.append(f" (the worker this app started {info.child})", style="red")
    text.append("   ")
    text.append(f"queued {info.queued + info.retrying}", style="bold" if info.queued + info.retrying else "dim")
    text.append(" · ")
    text.append(f"running {info.running + info.cancelling}", style="bold cyan" if info.running else "dim")
    if info.retrying:
        text.append(f" (retrying {info.retrying})", style="yellow")
    if info.direct_active:
        text.append(f" · direct {info.direct_active}", style="magenta")
    text.append("   ")
    text.append("direct: on" if info.direct_default else "direct: off",
                style="bold magenta" if info.direct_default else "dim")
    text.append("   ")
    if not info.live:
        text.append("refresh frozen", style="dim")
    elif info.paused:
        text.append("⏸ refresh paused (p)", style="bold yellow")
    else:
        text.append("⟳ live", style="green")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $panel; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status_info", self._show, init=True)

    def _show(self, info: StatusInfo) -> None:
        self.update(render_status(info))
