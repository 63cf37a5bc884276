"""The filter or search box of a list: hidden until asked for, typed into, closed with esc.

``/`` opens it (the screen's action calls :meth:`FilterBox.open`); each keystroke is an
``Input.Changed`` the screen filters on; enter goes back to the list, keeping the filter;
esc (the screen's ``on_escape`` calls :meth:`FilterBox.close`) clears it, hides it and goes
back to the list.
"""

from __future__ import annotations

from textual.widgets import Input


class FilterBox(Input):
    def __init__(self, placeholder: str, *, returns_to: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id, classes="filter hidden")
        self.returns_to = returns_to

    def open(self) -> None:
        self.remove_class("hidden")
        self.focus()

    def close(self) -> bool:
        """Clear and hide the box; False when it was neither open nor holding a filter."""
        if not (self.has_focus or self.value or not self.has_class("hidden")):
            return False
        self.value = ""
        self.add_class("hidden")
        self._return()
        return True

    async def action_submit(self) -> None:
        await super().action_submit()
        self._return()

    def _return(self) -> None:
        self.screen.query_one(self.returns_to).focus()
