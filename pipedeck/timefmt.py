"""Compact durations for tables and one-line messages: 4.2s, 12s, 3m, 5h, 2d."""

from __future__ import annotations


def compact(seconds: float | None, tenths: bool = True) -> str:
    """``tenths`` keeps one decimal under 10 s (4.2s); without it, whole seconds (4s)."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 10 and tenths:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"
