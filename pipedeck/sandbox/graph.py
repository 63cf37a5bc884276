"""Graph API half of the sandbox (issue 3 fills this in)."""

from __future__ import annotations


def handle(req) -> bool:
    return False
