"""`pipedeck token`: whether a Meta token is set, and `token set` to store one owner-only."""

from __future__ import annotations

import os
import sys

import click

from pipedeck.cli.base import Command, Group, pass_settings, state
from pipedeck.errors import UserError


def show_status(settings) -> None:
    source = ("META_ACCESS_TOKEN" if os.environ.get("META_ACCESS_TOKEN") else
              "credentials file" if settings.meta_access_token else None)
    click.echo(f"token: set ({source})" if source else "token: not set (META_ACCESS_TOKEN or `pipedeck token set`)")


@click.group("token", cls=Group, invoke_without_command=True)
@click.pass_context
def token(ctx: click.Context) -> None:
    """Whether the Meta access token is set (the default); `token set` stores one."""
    if ctx.invoked_subcommand is None:
        show_status(state().settings)


@token.command("status", cls=Command)
@pass_settings
def status(settings) -> None:
    """Whether the Meta access token is set, and where from."""
    show_status(settings)


@token.command("set", cls=Command)
@pass_settings
def set_(settings) -> None:
    """Store the Meta access token owner-only (0600) in the data dir; reads it from standard input."""
    from pipedeck.config import write_credentials

    stdin = sys.stdin
    if stdin.isatty():
        import getpass

        value = getpass.getpass("Meta access token: ")
    else:
        value = stdin.readline()
    value = value.strip()
    if not value:
        raise UserError("no token given on standard input")
    path = write_credentials(settings.home, value)
    click.echo(f"token stored in {path} (readable by you only)")
