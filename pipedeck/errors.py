"""Error types shared by every layer.

`UserError` and its subclasses carry a message meant for a person: one line,
no traceback, no secrets. The CLI prints them as ``pipedeck: <message>`` and
exits non-zero; the TUI shows them in a notification.

`RetryableError` and `PermanentError` are what handlers raise to tell the
worker whether another attempt could help.
"""

from __future__ import annotations

from pipedeck.concepts.text import visible

# A message longer than this is cut in the middle; a word (an echoed value, a URL) longer than
# WORD_LIMIT is cut at its end. A 10 kB value typed by mistake must not come back as a 10 kB line.
LINE_LIMIT = 400
WORD_LIMIT = 200


def one_line(text: object) -> str:
    """``text`` as one short line: whitespace collapsed, long words and long lines cut, control characters shown."""
    words = [w if len(w) <= WORD_LIMIT else w[: WORD_LIMIT - 1] + "…" for w in str(text).split()]
    line = " ".join(words)
    if len(line) > LINE_LIMIT:
        line = line[: LINE_LIMIT - 100] + " … " + line[-97:]
    return visible(line)


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut to ``limit`` characters: ``'abc…'``."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


class UserError(Exception):
    """Bad input or an unusable environment, explained in one line."""

    exit_code = 2

    def __str__(self) -> str:  # keep it to one short line whatever was passed in
        return one_line(self.args[0] if self.args else "")


class NotFound(UserError):
    exit_code = 3


class InvalidParams(UserError):
    pass


class StorageError(UserError):
    """The database file is unusable (corrupt, newer schema, unwritable).

    Storage raises only this family, never a raw ``sqlite3`` error; the
    driver's error is kept as ``__cause__`` for the logs.
    """

    exit_code = 4


class DatabaseLocked(StorageError):
    """Another process held the write lock past the busy timeout; trying again later can work."""


class DatabaseUnreachable(StorageError):
    """The database server cannot be reached (refused, timed out, gone mid-run); trying again later can work."""


class DatabaseUnwritable(StorageError):
    """The file cannot be written: read-only, disk full, an I/O error."""


class DatabaseCorrupt(StorageError):
    """The file is damaged; nothing should keep using it until it is recovered."""


class NotOurDatabase(StorageError):
    """The file at the database path belongs to another program; it is left untouched."""


class StorageConflict(StorageError):
    """A write broke a uniqueness or reference rule of the schema."""


class HandlerError(Exception):
    """Base for errors a handler raises on purpose."""

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type or type(self).__name__

    def __str__(self) -> str:
        return " ".join(str(self.args[0] if self.args else "").split())


class RetryableError(HandlerError):
    """Another attempt may succeed (network, 5xx, rate limit).

    ``retry_after`` (seconds) overrides the exponential backoff when the
    remote side told us how long to wait.
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 error_type: str | None = None) -> None:
        super().__init__(message, error_type=error_type)
        self.retry_after = retry_after


class PermanentError(HandlerError):
    """Retrying cannot help (bad token, bad parameter, 4xx)."""


class RunCancelled(Exception):
    """Raised inside a handler when its run was cancelled."""


class WorkerShuttingDown(Exception):
    """Raised inside a handler when its worker is stopping and hands the run back."""


class LeaseLost(Exception):
    """Raised inside a handler when its attempt no longer holds the run's lease
    (the run was recovered and handed to another attempt): stop at once; nothing
    this attempt writes is accepted any more."""
