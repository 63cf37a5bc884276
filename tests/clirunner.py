"""The CLI in this process, through click's CliRunner, shaped like a finished subprocess."""

from __future__ import annotations

import re
from dataclasses import dataclass

from click.testing import CliRunner

from pipedeck.cli import cli

# Output is piped unless a test asks for a terminal; nothing from the outer environment decides it.
PIPED = {"TTY_COMPATIBLE": None, "FORCE_COLOR": None, "NO_COLOR": None, "COLUMNS": None, "LINES": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    exception: BaseException | None


def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None,
           terminal: int | None = None) -> Result:
    """``pipedeck ARGS`` in-process; ``terminal=80`` makes stdout and stderr an 80-column terminal."""
    environ = dict(PIPED)
    if terminal:
        environ.update(TTY_COMPATIBLE="1", COLUMNS=str(terminal))
    environ.update(env or {})
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, env=environ, prog_name="pipedeck")
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    if exception is not None:  # a bug, not a refusal: show its traceback in the failure
        raise exception
    return Result(result.exit_code, result.stdout, result.stderr, exception)


def plain(text: str) -> str:
    """Terminal output without its colour codes."""
    return ANSI.sub("", text)


def one_line_error(result) -> str:
    """The contract for bad input: non-zero exit, exactly one line on stderr, ``pipedeck: ...``."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pipedeck: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]
