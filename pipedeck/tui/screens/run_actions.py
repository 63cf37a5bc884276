"""What the runs table and a run's detail both do to runs: retry, edit and retry, cancel (confirmed)."""

from __future__ import annotations

from pipedeck.concepts.statuses import TERMINAL
from pipedeck.tui.screens.base import PipedeckScreen


def retry_run(screen: PipedeckScreen, run_id: int) -> None:
    svc = screen.svc

    def done(new_id: int) -> None:
        screen.notify(f"run {run_id} retried as run {new_id}", timeout=4)
        screen.pd.refresh_soon()

    screen.fetch(lambda: svc.retry(run_id), done, group=f"retry-{run_id}")


def edit_and_retry(screen: PipedeckScreen, run: dict) -> None:
    if run["status"] not in TERMINAL:
        screen.notify(f"run {run['id']} is still {run['status']}; cancel it first or wait for it to end",
                      severity="warning")
        return
    screen.pd.open_job_form(run["job_type"], run["brand_id"], run["competitor_id"], params=run["params"],
                            retry_of=run["id"])


def cancel_runs(screen: PipedeckScreen, run_ids: list[int], after=None) -> None:
    svc = screen.svc
    what = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"

    def answer(yes: bool | None) -> None:
        if not yes:
            return
        if len(run_ids) == 1:
            def done(status: str) -> None:
                screen.notify(f"run {run_ids[0]} {status}" + (": it stops at its next check" if status == "cancelling"
                                                              else ""), timeout=4)
                screen.pd.refresh_soon()
            screen.fetch(lambda: svc.cancel(run_ids[0]), done, group="cancel")
        else:
            def done_many(result: dict) -> None:
                report_bulk(screen, "cancelled", result)
                screen.pd.refresh_soon()
                if after:
                    after()
            screen.fetch(lambda: svc.cancel_many(run_ids), done_many, group="cancel")

    from pipedeck.tui.screens.modals import ConfirmScreen  # the dialogs' module: when one is shown

    screen.app.push_screen(ConfirmScreen(f"Cancel {what}?", confirm="Cancel run" if len(run_ids) == 1
                                         else f"Cancel {len(run_ids)} runs",
                                         detail="Queued runs are cancelled at once; running ones stop at their "
                                                "next check and show `cancelling` until then."), answer)


def report_bulk(screen: PipedeckScreen, verb: str, result: dict) -> None:
    ok = {k: v for k, v in result.items() if not isinstance(v, str) or v in ("cancelled", "cancelling")}
    skipped = {k: v for k, v in result.items() if k not in ok}
    msg = f"{len(ok)} run(s) {verb}"
    if skipped:
        first = next(iter(skipped.items()))
        msg += f"; {len(skipped)} skipped (run {first[0]}: {first[1]})"
    screen.notify(msg, severity="warning" if skipped else "information", timeout=6)
