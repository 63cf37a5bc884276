from pipedeck.cli import cli

cli(prog_name="pipedeck")
