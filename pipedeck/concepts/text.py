"""Outside text made safe to print: control characters shown, never obeyed.

Brand names, scraped ad copy, page names and error messages from Meta are
written by others. Printed raw, an escape sequence in them can retitle the
terminal, write the clipboard (OSC 52) or recolour the screen. Every such
string is passed through :func:`visible` before it reaches a terminal, in the
CLI and in the TUI; names people type are refused at the edge instead
(:func:`control_characters`).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the bidirectional overrides/isolates that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode's control pictures: ␛ for ESC, ␇ for BEL
    if code == 0x7f:
        return "\u2421"  # ␡
    return f"\\u{code:04x}" if code > 0xff else f"\\x{code:02x}"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character replaced by a visible stand-in (ESC -> ␛).

    ``keep_newlines`` leaves line breaks and tabs alone, for multi-line text such as an ad's body.
    """
    if text is None:
        return ""
    return (_KEEP_LINES if keep_newlines else _CONTROL).sub(_shown, str(text))


def control_characters(text: str) -> list[str]:
    """The control characters in ``text``, shown visibly (empty when it has none)."""
    return [_shown(m) for m in _CONTROL.finditer(text or "")]
