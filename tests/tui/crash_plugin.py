"""Loaded through PIPEDECK_PLUGINS by scripts/demo_tmux_check.py: makes `e` on the brand list raise,
so the real `pipedeck` process's crash handling (message, log file, exit status) can be checked."""

from pipedeck.tui.screens.brands import BrandsScreen


def _broken(self) -> None:
    raise RuntimeError("crash check: deliberate failure")


BrandsScreen.action_edit = _broken
