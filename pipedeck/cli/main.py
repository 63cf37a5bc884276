"""The `pipedeck` command: bare, it opens the app; each verb group lives in its own module."""

from __future__ import annotations

import click
from rich_click import RichCommandPanel

from pipedeck import __version__
from pipedeck.cli.base import CONTEXT_SETTINGS, PROG, RootGroup, State, release_collector, say_error


class PipedeckCommand(RootGroup):
    """The root, with the environment variables listed in its help (from the settings model)."""

    def format_epilog(self, ctx, formatter) -> None:
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        from pipedeck.config import variables

        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=True)
        table.add_column("variable", no_wrap=True, style="bold cyan")
        table.add_column("meaning and default", ratio=1, overflow="fold")
        for var in variables():
            table.add_row(var.name, Text.assemble(var.description, "\n", ("default: " + var.default, "dim")))
        formatter.write(Panel(table, title="Environment", title_align="left", border_style="dim"))
        super().format_epilog(ctx, formatter)


PANELS = [
    RichCommandPanel("Brands and data", commands=["brands", "competitors", "templates", "freshness", "export"]),
    RichCommandPanel("Jobs", commands=["queue", "runs", "schedules", "job-types", "status", "alerts"]),
    RichCommandPanel("Processes", commands=["tui", "worker", "demo", "sandbox"]),
    RichCommandPanel("Set-up", commands=["token", "db"]),
]


# Each verb and the module that defines it (imported when it runs).
COMMANDS = {
    "tui": "pipedeck.cli.tui:tui",
    "brands": "pipedeck.cli.brands:brands",
    "competitors": "pipedeck.cli.competitors:competitors",
    "queue": "pipedeck.cli.queue:queue",
    "runs": "pipedeck.cli.runs:runs",
    "schedules": "pipedeck.cli.schedules:schedules",
    "freshness": "pipedeck.cli.freshness:freshness",
    "templates": "pipedeck.cli.templates:templates",
    "job-types": "pipedeck.cli.queue:job_types",
    "status": "pipedeck.cli.worker:status",
    "worker": "pipedeck.cli.worker:worker",
    "demo": "pipedeck.cli.demo:demo",
    "sandbox": "pipedeck.cli.sandbox:sandbox",
    "token": "pipedeck.cli.token:token",
    "db": "pipedeck.cli.db:db",
    "alerts": "pipedeck.cli.alerts:alerts",
    "export": "pipedeck.cli.export:export",
}


# Verbs that release the collector themselves, once what they run is imported (the app: Textual and
# its screens are a third of its time to first paint, and their objects live as long as it does).
ENDS_ITS_OWN_START_UP = {"tui"}


@click.group(PROG, cls=PipedeckCommand, default="tui", default_if_no_args=True, context_settings=CONTEXT_SETTINGS,
             panels=PANELS, lazy_commands=COMMANDS)
@click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Control plane for Meta ad data pipelines. With no command, opens the terminal app.

    Bad input exits non-zero with one line on stderr: `pipedeck: <what is wrong>`.
    """
    from pipedeck.config import load_settings, loose_permissions

    ctx.obj = State(load_settings())
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand not in ENDS_ITS_OWN_START_UP:
        release_collector()  # the verb's module and the settings are loaded: what follows is the command's own work
    warning = loose_permissions(ctx.obj.settings.home)
    if warning:
        say_error(warning)



def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: the process's); returns the exit status."""
    return cli.main(argv, prog_name=PROG, standalone_mode=False)
