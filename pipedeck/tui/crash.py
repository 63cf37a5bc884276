"""The app's error log: what went wrong, with the full cause, secrets redacted."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from pipedeck.config import Settings

ERROR_LOG = "tui-errors.log"


def write_crash_log(settings: Settings, error: BaseException, headline: str = "pipedeck TUI crashed") -> Path | None:
    try:
        from pipedeck.handlers.context import redact

        log_dir = settings.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / ERROR_LOG
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        with open(path, "a") as f:
            f.write(f"--- {stamp} {headline}: {type(error).__name__}: {error}\n")
            f.write(redact(text, settings.secrets()))
        return path
    except OSError:
        return None
