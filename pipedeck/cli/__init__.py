"""The command line, on click: bare `pipedeck` opens the TUI; subcommands script everything else.

One module per verb group (brands, competitors, queue, runs, schedules, freshness, templates,
token, worker, sandbox, demo, db); :mod:`pipedeck.cli.base` holds what they share, including
the one wrapper that turns every error into one line on stderr, ``pipedeck: <what is wrong>``,
and :mod:`pipedeck.cli.output` how they print.
"""

from pipedeck.cli.main import cli, main

__all__ = ["cli", "main"]
