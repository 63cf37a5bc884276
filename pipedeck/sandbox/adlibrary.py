"""Ad Library half of the sandbox (issue 4 fills this in)."""

from __future__ import annotations


def handle(req) -> bool:
    return False
