"""Names and references at the edge of the catalog: no control characters, no integer overflow."""

from __future__ import annotations

import pytest

from pipedeck.errors import NotFound, UserError

HUGE = str(2**70)


@pytest.mark.parametrize("name", ["Evil\x1b]0;pwned\x07", "Clip\x1b]52;c;aGk=\x07", "Red\x1b[31m", "Bell\x07",
                                  "Bidi\u202eevil", "C1\x9b31m"])
def test_names_with_control_characters_are_refused_for_brands_and_competitors(svc, brand, name):
    with pytest.raises(UserError, match="must not contain control characters"):
        svc.add_brand(name)
    with pytest.raises(UserError, match="must not contain control characters"):
        svc.add_competitor("Acme", name, "https://www.facebook.com/ads/library/?view_all_page_id=77")
    with pytest.raises(UserError, match="must not contain control characters"):
        svc.edit_brand("Acme", name=name)
    assert [b["name"] for b in svc.brands()] == ["Acme"] and svc.competitors() == []


def test_whitespace_in_names_is_still_collapsed_not_refused(svc):
    assert svc.add_brand("  Acme\tOutdoor\n")["name"] == "Acme Outdoor"


@pytest.mark.parametrize("ref", [HUGE, 2**70, -1, 0, "²", "9" * 40])
def test_references_past_sqlite_integers_are_unknown_not_overflow(svc, brand, ref):
    with pytest.raises(NotFound, match="unknown brand"):
        svc.brand(ref)
    with pytest.raises(NotFound, match="unknown competitor"):
        svc.competitor(ref)
    with pytest.raises(NotFound):
        svc.prepare(ref, "test_echo")
