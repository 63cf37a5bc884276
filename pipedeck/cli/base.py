"""What every verb module stands on: the command classes, the one error wrapper, the run's
context (settings and a Service opened on first use), and parameter types that bound every
id and count at the edge.

The contract: bad input exits non-zero with one line on stderr, ``pipedeck: <what is wrong>``,
click's own usage errors included, and writes nothing.
"""

from __future__ import annotations

import functools
import gc
import os
import re
import sqlite3
import sys
from typing import Any, Callable

import click
import rich_click
from click_default_group import DefaultGroup

from pipedeck.errors import StorageError, UserError, one_line, shown

PROG = "pipedeck"
MAX_ID = 2**63 - 1  # SQLite's INTEGER; a larger id names no row and would raise OverflowError
_WHOLE = re.compile(r"^[+-]?[0-9]{1,19}$")

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 120}


class Command(rich_click.RichCommand):
    """A verb: rich help."""


class Group(rich_click.RichGroup):
    """A verb group, its actions listed in the order they are defined (``runs --help`` shows them)."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


Group.group_class = Group


# -- the process: no cycle collection during start-up (see pipedeck.__main__) ---------------------
_collector_held = False


def hold_collector() -> None:
    """Keep the cycle collector off until start-up is over (the process entry point only)."""
    global _collector_held
    gc.disable()
    _collector_held = True


def release_collector() -> None:
    """Start-up is over: keep what it built out of every later collection, and collect again."""
    global _collector_held
    if _collector_held:
        _collector_held = False
        gc.freeze()
        gc.enable()


# -- the run's context ----------------------------------------------------------------------------
class State:
    """Settings, and the one Service a command talks to (opened on first use, closed at the end)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._service = None

    @property
    def service(self):
        if self._service is None:
            from pipedeck.queue.service import Service

            self._service = Service(self.settings, lazy_registry=True)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None


def state() -> State:
    return click.get_current_context().find_object(State)


def pass_service(f: Callable) -> Callable:
    """Hand the command the Service as its first argument."""

    def new_func(*args: Any, **kwargs: Any) -> Any:
        return f(state().service, *args, **kwargs)

    return functools.update_wrapper(new_func, f)


def pass_settings(f: Callable) -> Callable:
    def new_func(*args: Any, **kwargs: Any) -> Any:
        return f(state().settings, *args, **kwargs)

    return functools.update_wrapper(new_func, f)


# -- parameter types: every id, count and span bounded here ---------------------------------------
def _whole(value: Any) -> int | None:
    """A whole number as typed (ASCII digits only), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    return int(text) if _WHOLE.match(text) else None


class Id(click.ParamType):
    """A row id: a whole number from 1 to 2**63-1."""

    name = "ID"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param, ctx) -> int:
        number = _whole(value)
        if number is None or not 1 <= number <= MAX_ID:
            self.fail(f"{shown(value)} is not a {self.what} id (a whole number from 1 to {MAX_ID})", param, ctx)
        return number


class Count(click.ParamType):
    """A whole number within bounds (a limit, a number of threads, a port)."""

    name = "N"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param, ctx) -> int:
        number = _whole(value)
        if number is None or not self.low <= number <= self.high:
            self.fail(f"must be a whole number from {self.low} to {self.high}, got {shown(value)}", param, ctx)
        return number


class Seconds(click.ParamType):
    """A finite number of seconds within bounds."""

    name = "SECONDS"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not self.low <= number <= self.high:  # nan and inf fail the comparison
            self.fail(f"must be a number of seconds from {self.low:g} to {self.high:g}, got {shown(value)}",
                      param, ctx)
        return number


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_sets(pairs: tuple[str, ...] | list[str] | None) -> dict:
    """``--set key=value`` pairs as params: JSON for lists and objects, ``null`` for None, else the text."""
    import json

    params: dict = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UserError(f"malformed --set {shown(pair)}: expected key=value")
        value = value.strip()
        if value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                raise UserError(f"malformed --set {shown(pair)}: value is not valid JSON") from None
        elif value.lower() == "null":
            value = None
        params[key] = value
    return params


def set_option(help: str = "a job parameter (repeatable)") -> Callable:
    return click.option("--set", "params", multiple=True, metavar="KEY=VALUE", help=help,
                        callback=lambda ctx, param, value: parse_sets(value))


# -- the root: bare `pipedeck` opens the app; every error is one line -----------------------------
def click_error_line(exc: click.ClickException) -> str:
    """click's message (a usage error, a bad value) as one helpful line."""
    message = one_line(exc.format_message()).rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else PROG
    verb = where.partition(" ")[2]
    return f"{verb + ': ' if verb else ''}{message} (see `{where} --help`)"


def say_error(message: str) -> None:
    click.echo(f"{PROG}: {one_line(message)}", err=True)


class RootGroup(DefaultGroup, Group):
    """``pipedeck``: with no arguments the default command (the app) runs, as posting does.

    Its ``main`` is the one place errors become lines (as harlequin's HarlequinCommand turns
    click's errors into one helpful line): pipedeck's UserError, click's usage errors, a
    database error, an interrupt.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ignore_unknown_options = False  # `pipedeck --bogus` is an error, not the app's argument
        # name -> "module:attribute": a verb's module is imported only when that verb runs (or help
        # lists it), as click's documentation does it for large CLIs; start-up stays small.
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*self.lazy_commands, *self.commands]))

    def get_command(self, ctx: click.Context, cmd_name: str):
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            import importlib

            module, _, attr = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        known = self.list_commands(ctx)
        if name is not None and name not in known and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (one of {', '.join(known)})"
            raise click.UsageError(f"no such command {shown(name)}{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:  # storage wraps most; this is the net under it
            from pipedeck.storage.errors import describe_db_error

            found = ctx.find_object(State)
            path = (found.settings.db_path or found.settings.database.shown) if found is not None else "pipedeck.db"
            raise StorageError(describe_db_error(path, exc)) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from pipedeck.config import PRIVATE_UMASK

        # Everything this process writes in the data dir (database, WAL, queue, logs, media) is
        # owner-only; restored afterwards for in-process callers such as CliRunner.
        umask = os.umask(PRIVATE_UMASK)
        os.umask(umask | PRIVATE_UMASK)
        try:
            code = super().main(args, prog_name or PROG, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) and not isinstance(code, bool) else 0
        except (click.exceptions.Abort, KeyboardInterrupt):
            say_error("interrupted")
            code = 130
        except click.ClickException as exc:
            say_error(click_error_line(exc))
            code = exc.exit_code
        except UserError as exc:
            say_error(str(exc))
            code = exc.exit_code
        except BrokenPipeError:  # `pipedeck runs | head`: the reader left; not an error
            sys.stdout = open(os.devnull, "w")
            code = 0
        finally:
            os.umask(umask)
        if standalone_mode:
            sys.exit(code)
        return code
