"""Is a process on this host still alive? (for recovering runs of dead workers)"""

from __future__ import annotations

import os
import uuid


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces; split after its closing paren.
    return raw[raw.rfind(")") + 2:].split()


def proc_start(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat_fields(pid)
    if fields is None:
        return not os.path.isdir("/proc")  # no procfs: trust kill()
    if fields[0] in ("Z", "X"):  # a zombie has exited, its parent just has not reaped it
        return False
    if start is not None and len(fields) > 19 and fields[19] != start:
        return False  # the pid was reused by another process
    return True


def new_worker_id(host: str, kind: str = "worker") -> str:
    prefix = "" if kind == "worker" else f"{kind}:"
    return f"{prefix}{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
