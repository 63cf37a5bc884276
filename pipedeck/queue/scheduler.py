"""The scheduler tick: queue due occurrences of recurring schedules, from the database.

Not huey's periodic tasks, which live in memory and are forgotten on restart:
each schedule stores its next occurrence, and every worker calls :func:`tick`
every couple of seconds. Each occurrence is queued exactly once however many
workers on however many hosts tick at once: the tick locks and re-reads the
due schedules inside its write transaction (see ``storage.schedules.Tick``),
and the occurrence is a unique key of the schedule's history.

Per occurrence the history says what happened: ``queued`` (with the run),
``skipped`` (the previous run is still going), ``missed`` (no worker was
ticking at the time; under the ``run_once`` policy the latest missed
occurrence is queued on recovery), or ``error`` (the job no longer validates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from pipedeck.errors import UserError, shown
from pipedeck.handlers import registry
from pipedeck.storage import schedules as store
from pipedeck.storage.catalog import Catalog
from pipedeck.storage.db import Database
from pipedeck.storage.runs import ACTIVE, RunStore

log = logging.getLogger("pipedeck.scheduler")

MISSED_POLICIES = ("skip", "run_once")
# An occurrence queued later than this after its time counts as missed (no worker was ticking).
MISSED_GRACE = 120.0
# Most missed occurrences recorded one by one; more are summarised in one event.
MAX_MISSED_EVENTS = 20


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder such as "Europe"
        raise UserError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Berlin)") from None


# The named macros, as the five fields they stand for (cronsim reads only fields).
CRON_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
               "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
CRON_FIELDS = "minute hour day-of-month month day-of-week"


def cron_shape_problem(cron: str) -> str | None:
    """What is wrong with the form of a cron expression (a macro, not five fields), or None."""
    cron = " ".join(cron.split())
    if cron.lower() in CRON_MACROS:
        return f"cron macros are not supported; write {cron.lower()} as {CRON_MACROS[cron.lower()]!r}"
    fields = len(cron.split(" ")) if cron else 0
    if fields != 5:
        # Worded as cronsim words its own errors ("Bad minute"), which forms and tests show.
        return (f"invalid cron expression {shown(cron)}: Wrong number of fields ({fields}); "
                f"use five ({CRON_FIELDS}), e.g. '0 7 * * 1-5'")
    return None


def check_cron(cron: str, tz: str) -> str:
    """Validate a five-field cron expression; returns its plain-English explanation.

    cronsim also reads a sixth (seconds) field, which would fire every second: refused here.
    """
    cron = " ".join(cron.split())
    problem = cron_shape_problem(cron)
    if problem:
        raise UserError(problem)
    try:
        sim = CronSim(cron, datetime.now(zone(tz)))
        next(sim)
    except CronSimError as exc:
        raise UserError(f"invalid cron expression {shown(cron)}: {exc}") from None
    except StopIteration:
        raise UserError(f"cron expression {shown(cron)} never matches") from None
    try:
        return sim.explain()
    except Exception:  # explain() is best effort for unusual expressions
        return cron


def next_after(cron: str, tz: str, after: float) -> float:
    """First occurrence strictly after ``after`` (unix seconds), in the schedule's zone."""
    return next(CronSim(cron, datetime.fromtimestamp(after, zone(tz)))).timestamp()


@dataclass
class TickResult:
    queued: list[int] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)


def tick(database: Database, settings, now: float, enqueue: Callable[[int], None] | None = None,
         limit: int = 500) -> TickResult:
    """Queue every due occurrence once. ``now`` is injectable for tests and simulations."""
    result = TickResult()
    due = store.due(database, now, limit)
    if not due:
        return result
    runs = RunStore(database, clock=lambda: now)
    catalog = Catalog(database)
    with store.tick(database, [sched["id"] for sched in due]) as tx:
        for sched in due:
            if tx.still_due(sched, now):
                _fire(tx, runs, catalog, settings, sched, now, result)
    if enqueue is not None:
        for run_id in result.queued:
            try:
                enqueue(run_id)
            except Exception as exc:  # the worker's sweep re-sends it later
                log.warning("could not enqueue scheduled run %s: %s", run_id, exc)
    return result


def _fire(tx: store.Tick, runs: RunStore, catalog: Catalog, settings, sched: dict, now: float, result: TickResult) -> None:
    cron, tz = sched["cron"], sched["tz"]
    problem = cron_shape_problem(cron)
    if problem:
        # Saved before the five-field check (cronsim would read a sixth field as seconds and fire every
        # second): paused, and said once, until somebody edits it.
        if tx.record_event(sched["id"], sched["next_run_at"], now, "error",
                           reason=f"{problem}; the schedule is paused until its cron is edited"):
            result.events.append((sched["id"], "error"))
        tx.advance(sched["id"], now, active=0)
        return
    occurrences = [sched["next_run_at"]]
    following = next_after(cron, tz, occurrences[-1])
    while following <= now and len(occurrences) < 100_000:
        occurrences.append(following)
        following = next_after(cron, tz, following)
    on_time = [o for o in occurrences if now - o <= MISSED_GRACE]
    missed = [o for o in occurrences if now - o > MISSED_GRACE]
    fire_at = on_time[-1] if on_time else (missed[-1] if missed and sched["missed_policy"] == "run_once" else None)
    unfired = [o for o in occurrences if o != fire_at]
    policy_note = ("queued once on recovery" if sched["missed_policy"] == "run_once" else "skipped")
    for occ in unfired[:MAX_MISSED_EVENTS]:
        tx.record_event(sched["id"], occ, now, "missed", reason=f"no worker was ticking (missed-run policy: {policy_note})")
    if len(unfired) > MAX_MISSED_EVENTS:
        tx.record_event(sched["id"], unfired[MAX_MISSED_EVENTS], now, "missed",
                        reason=f"{len(unfired) - MAX_MISSED_EVENTS} more occurrences missed up to "
                      f"{datetime.fromtimestamp(unfired[-1], zone(tz)).isoformat(timespec='minutes')}")
    result.events += [(sched["id"], "missed")] * len(unfired)
    updates = {"next_run_at": following}
    if fire_at is not None:
        run_id = _queue_occurrence(tx, runs, catalog, settings, sched, fire_at, now, result)
        if run_id is not None:
            updates.update(last_run_id=run_id, last_fired_at=now)
    tx.advance(sched["id"], now, **updates)


def _queue_occurrence(tx: store.Tick, runs: RunStore, catalog: Catalog, settings, sched: dict, occurrence: float,
                      now: float, result: TickResult) -> int | None:
    if sched["last_run_id"]:
        previous = tx.run_status(sched["last_run_id"])
        if previous in ACTIVE:
            if tx.record_event(sched["id"], occurrence, now, "skipped",
                               reason=f"previous run {sched['last_run_id']} is still {previous}"):
                result.events.append((sched["id"], "skipped"))
            return None
    try:
        jt = registry.get(sched["job_type"])
        brand = catalog.brand(sched["brand_id"])
        competitor = catalog.competitor(sched["competitor_id"]) if sched["competitor_id"] else None
        # The schedule keeps only the user's own params; record defaults (e.g. a
        # competitor's current Ad Library URL) are filled in at each occurrence.
        params = jt.validate(sched["params"], settings=settings, brand=brand,
                             competitor=competitor).model_dump(mode="json")
        jt.check_brand(brand)
    except UserError as exc:
        if tx.record_event(sched["id"], occurrence, now, "error", reason=str(exc)):
            result.events.append((sched["id"], "error"))
        return None
    if not tx.record_event(sched["id"], occurrence, now, "queued"):
        return None  # this occurrence was already handled
    run_id = runs.create_run(job_type=jt.key, brand_id=brand["id"], competitor_id=sched["competitor_id"],
                             params=params, max_attempts=jt.max_attempts, schedule_id=sched["id"])
    tx.link_run(sched["id"], occurrence, run_id)
    result.queued.append(run_id)
    result.events.append((sched["id"], "queued"))
    return run_id
