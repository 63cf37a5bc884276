"""Concepts every layer shares, each in one home: durations, run statuses,
datasets and their freshness, and the one-line summary of a run.

These modules import nothing from pipedeck but ``pipedeck.errors`` (and the
standard library), so the storage, handlers, queue, CLI and TUI layers can
all stand on them.
"""
