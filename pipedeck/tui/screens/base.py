"""What every pipedeck screen shares: the status bar, the footer, and fetching off the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from pipedeck.errors import DatabaseCorrupt, StorageError, UserError
from pipedeck.tui.widgets.key_footer import KeyFooter
from pipedeck.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from pipedeck.queue.service import Service
    from pipedeck.tui.app import PipedeckApp

# How often screens re-render ages, durations and freshness states from what they hold.
CLOCK_TICK = 1.0


def run_off_loop(node, fn: Callable[[], Any], then: Callable[[Any], None] | None = None, *,
                 group: str = "fetch", exclusive: bool = False,
                 on_error: Callable[[UserError], None] | None = None, description: str = "") -> None:
    """Call ``fn`` on a thread worker; hand its result to ``then`` on the event loop.

    A UserError (bad input, unknown brand) is shown as a notification, or
    given to ``on_error``; a StorageError as in :func:`storage_failed`.
    Anything else is a bug: the worker fails and the app's crash handling
    takes over.
    """
    app = node.app

    def job() -> None:
        try:
            result = fn()
        except StorageError as exc:
            if not get_current_worker().is_cancelled:
                app.call_from_thread(storage_failed, app, exc, on_error)
            return
        except UserError as exc:
            if not get_current_worker().is_cancelled:
                app.call_from_thread(on_error or (lambda e: app.notify(str(e), severity="error", timeout=8)), exc)
            return
        if then is not None and not get_current_worker().is_cancelled:
            app.call_from_thread(_deliver, node, then, result)

    node.run_worker(job, thread=True, group=group, exclusive=exclusive, exit_on_error=True,
                    description=description or getattr(fn, "__name__", "fetch"))


def storage_failed(app, exc: StorageError, on_error: Callable[[UserError], None] | None = None) -> None:
    """A database error off the loop (on the loop): its full cause goes to tui-errors.log; the
    person gets one line. A locked database is a notification and the app stays up; a damaged
    one ends the app (run_tui prints the line and exits non-zero)."""
    from pipedeck.tui.crash import write_crash_log

    write_crash_log(app.settings, exc, headline="database error")
    if isinstance(exc, DatabaseCorrupt):
        if app.fatal_error is None:
            app.fatal_error = exc
            app.exit_when_started(exc.exit_code)
        return
    app.notify(str(exc), severity="error", timeout=10)
    if on_error is not None:
        on_error(exc)


def _deliver(node, then, result) -> None:
    # A screen being popped, or every screen at the app's exit, is pruned children first while it
    # is still attached: a result arriving then would find its widgets gone (Textual's own mount
    # and recompose make the same check).
    if node.is_attached and not (node._pruning or node._closing):
        then(result)


class PipedeckScreen(Screen):
    """Base screen. Subclasses yield their body from ``compose_body``."""

    # Set on the main views (number keys); shown in the help.
    VIEW_TITLE = ""
    # What the help calls the screen's own keys when it is not a view ("Brand keys").
    HELP_TITLE = ""
    BINDINGS = [Binding("escape", "escape", "Back")]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.synced_rev: int | None = None
        self._after_load: list[Callable[[], None]] = []

    def hidden_in_footer(self, binding: Binding) -> bool:
        """At a view's root esc goes nowhere (it only closes a filter): no 'esc Back' in the footer."""
        return binding.key == "escape" and self.is_view_root

    @property
    def is_view_root(self) -> bool:
        return self.is_attached and bool(self.app.screen_stack) and self.app.screen_stack[0] is self

    def bind_job_keys(self, job_types) -> None:
        """Bind each job type's screen key (from the registry) to ``queue('<job type>')``.

        A key the screen already uses for something else is left to it; the
        job stays reachable from the screen's action list and the palette.
        """
        own = self._bindings.key_to_bindings
        jobs = {jt.screen_key: [Binding(jt.screen_key, f"queue({jt.key!r})", jt.key_label)]
                for jt in job_types if jt.screen_key and jt.screen_key not in own}
        # The screen's jobs lead its own keys in the footer (after the inherited esc).
        ordered = {key: own[key] for key in own if key == "escape"} | jobs
        self._bindings.key_to_bindings = ordered | {key: own[key] for key in own if key not in ordered}

    def job_key(self, jt) -> bool:
        """True when ``jt``'s screen key queues it on this screen."""
        return any(b.action == f"queue({jt.key!r})" for b in self._bindings.key_to_bindings.get(jt.screen_key or "", ()))

    def after_load(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this screen's data has arrived: a key pressed while the
        screen is still loading is carried out then, not silently dropped."""
        self._after_load.append(action)

    def loaded(self) -> None:
        """Subclasses call this at the end of their load handler."""
        pending, self._after_load = self._after_load, []
        for action in pending:
            action()

    @property
    def pd(self) -> "PipedeckApp":
        return self.app  # type: ignore[return-value]

    @property
    def svc(self) -> "Service":
        return self.pd.service

    def now(self) -> float:
        return self.svc.clock()

    @on(events.Mount)
    def _start_clock(self) -> None:
        self.set_interval(CLOCK_TICK, self._clock_tick)

    def _clock_tick(self) -> None:
        # Screens of other views (and those under a dialog's parent) wait until shown again.
        if self.is_attached and self in self.app.screen_stack:
            self.tick(self.now())

    def tick(self, now: float) -> None:
        """Time passed: re-render ages, durations and freshness states from the data already held.

        Never reads: the data is as fresh as the last fetch, only "now" moved.
        """

    def action_escape(self) -> None:
        if not self.on_escape():
            self.pd.action_back()

    def on_escape(self) -> bool:
        """Handle esc locally (close a filter, say); True when handled."""
        return False

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        return iter(())

    def fetch(self, fn: Callable[[], Any], then: Callable[[Any], None] | None = None, *,
              group: str | None = None, exclusive: bool = True,
              on_error: Callable[[UserError], None] | None = None) -> None:
        run_off_loop(self, fn, then, group=group or getattr(then, "__name__", "fetch"),
                     exclusive=exclusive, on_error=on_error)

    # -- live refresh hooks ----------------------------------------------------
    def reload(self) -> None:
        """Read everything this screen shows (on a thread)."""

    def runs_changed(self, rows: list[dict]) -> None:
        """Runs changed: patch what is shown. Default: nothing depends on runs."""

    def on_screen_resume(self) -> None:
        # Screens of other views miss live updates; catch up when shown again.
        if self.synced_rev is not None and self.synced_rev != self.pd.live_rev:
            self.synced_rev = self.pd.live_rev
            self.reload()
