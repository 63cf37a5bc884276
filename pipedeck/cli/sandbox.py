"""`pipedeck sandbox`: the local stand-in for the Meta Graph API and the Ad Library."""

from __future__ import annotations

from types import SimpleNamespace

import click

from pipedeck.cli.base import Command, Count


def sandbox_help() -> str:
    """What each sandbox half documents in its module-level HELP (data, sizes, variants, faults)."""
    import importlib

    parts = []
    for name in ("pipedeck.sandbox.graph", "pipedeck.sandbox.adlibrary"):
        try:
            parts.append(getattr(importlib.import_module(name), "HELP", ""))
        except Exception:  # noqa: BLE001 - help text must never break the CLI
            continue
    return "\n\n".join(p for p in parts if p)


class SandboxCommand(Command):
    """Its epilog (the data and fault list) is read from the sandbox modules only when help is shown."""

    @property
    def epilog(self):
        from rich.text import Text

        return Text(sandbox_help())

    @epilog.setter
    def epilog(self, value) -> None:
        pass


@click.command("sandbox", cls=SandboxCommand)
@click.option("--port", type=Count(0, 65535), default=8765, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]",
              help="switch a fault on (repeatable; the list is below).")
@click.pass_context
def sandbox(ctx: click.Context, port: int, host: str, faults: tuple[str, ...]) -> None:
    """Serve the local Meta Graph API and Ad Library stand-in; prints the env to point pipedeck at it."""
    from pipedeck.sandbox.server import main as sandbox_main

    ctx.exit(sandbox_main(SimpleNamespace(host=host, port=port, fault=list(faults))))
