"""A schedule's cron is five fields: cronsim's sixth (seconds) field would fire every second."""

from __future__ import annotations

import re

import pytest

from pipedeck.errors import UserError
from pipedeck.queue.scheduler import check_cron


@pytest.mark.parametrize("cron", ["* * * * * *", "0 7 * * 1 2026", "* * *", "", "0"])
def test_anything_but_five_fields_is_refused_in_one_line(cron):
    with pytest.raises(UserError) as caught:
        check_cron(cron, "UTC")
    message = str(caught.value)
    assert "Wrong number of fields" in message and "use five" in message and "\n" not in message


@pytest.mark.parametrize("macro,fields", [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
                                          ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *")])
def test_macros_cronsim_cannot_read_are_refused_with_their_five_fields(macro, fields):
    with pytest.raises(UserError, match=re.escape(f"write {macro} as '{fields}'")):
        check_cron(macro, "UTC")
    assert check_cron(fields, "UTC")  # and what the message suggests is accepted


def test_five_fields_are_explained():
    assert check_cron(" 0  7 * * 1-5 ", "Europe/Berlin") == "At 07:00 on Monday through Friday"
