"""The shared concepts: durations read and shown, outside text made visible."""

from __future__ import annotations

import pytest

from pipedeck.concepts import durations
from pipedeck.concepts.text import control_characters, visible
from pipedeck.errors import UserError


@pytest.mark.parametrize("text,seconds", [("45", 45), ("90m", 5400), ("26h", 93600), ("7d", 604800),
                                          ("2w", 1209600), (" 1.5 h ", 5400)])
def test_parse_reads_what_people_type(text, seconds):
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("seconds", [45, 5400, 93600, 604800, 90])
def test_as_input_round_trips_through_parse(seconds):
    assert durations.parse(durations.as_input(seconds)) == seconds


def test_parse_refuses_nonsense_in_one_short_line():
    with pytest.raises(UserError) as err:
        durations.parse("soon" * 1000)
    assert "\n" not in str(err.value) and len(str(err.value)) < 120


def test_spans_for_each_place():
    assert (durations.compact(4.24), durations.compact(75), durations.compact(3 * 86400)) == ("4.2s", "1m", "3d")
    assert (durations.words(26 * 3600), durations.words(2 * 86400), durations.words(12 * 60)) == ("26 h", "2 d", "12 min")
    assert durations.until(1000 + 3 * 3600, 1000) == "in 3 h" and durations.until(880, 1000) == "due 2 min ago"


def test_escape_sequences_are_shown_not_obeyed():
    title_change = "Acme\x1b]0;owned\x07"
    clipboard = "\x1b]52;c;ZXZpbA==\x07"
    shown = visible(title_change + clipboard + "\x9b31m" + "\u202eevil")
    assert not control_characters(shown)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert shown.startswith("Acme␛]0;owned␇")


def test_line_breaks_survive_only_when_asked():
    assert visible("a\nb") == "a␊b"
    assert visible("a\nb\tc\x1b", keep_newlines=True) == "a\nb\tc␛"
