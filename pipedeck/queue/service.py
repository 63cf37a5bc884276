"""The service API the CLI and the TUI call: queue, inspect, retry, cancel.

    svc = Service(load_settings())
    run_id = svc.queue_one_time_job("Acme", "asset_download", {"max_images": 10})
    svc.recent_runs("Acme", "asset_download")
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

from pipedeck.concepts import datasets as ds
from pipedeck.concepts.statuses import check_status
from pipedeck.concepts.summary import result_warning, with_summary
from pipedeck.config import Settings, ensure_home
from pipedeck.errors import UserError
from pipedeck.queue.procs import pid_alive
from pipedeck.storage.catalog import Catalog
from pipedeck.storage.db import Database, open_database
from pipedeck.storage.runs import FAILED, TERMINAL, RunStore

if TYPE_CHECKING:
    from pipedeck.handlers.registry import JobType


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 database: Database | None = None, lazy_registry: bool = False) -> None:
        """``lazy_registry`` leaves the job-type registry (and the plugins) to the first method that
        needs it; by default it is loaded now, since the TUI's screens read it directly."""
        self.settings = settings
        self.clock = clock
        ensure_home(settings)
        if not lazy_registry:
            self.registry  # noqa: B018 - import it and the plugins now
        self.database = database or open_database(settings)
        self.catalog = Catalog(self.database, clock=clock)
        self.runs = RunStore(self.database, clock=clock)
        self._queue = None

    @cached_property
    def registry(self):
        """The job-type registry, with the plugins loaded. It imports every handler with its HTTP and
        browser libraries, which listing runs or brands does not need (that import was most of a
        CLI start-up): see ``lazy_registry``."""
        from pipedeck.handlers import registry

        registry.load_plugins(self.settings.plugins)
        return registry

    @property
    def queue(self):
        if self._queue is None:
            from pipedeck.queue.huey_app import Queue

            self._queue = Queue(self.settings)
        return self._queue

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()
        self.database.close()

    # -- brands and competitors ------------------------------------------------
    def brands(self) -> list[dict]:
        return self.catalog.brands()

    def brand(self, ref: str | int) -> dict:
        return self.catalog.brand(ref)

    def add_brand(self, name: str, meta_ad_account_id: str | None = None,
                  ad_library_page_id: str | None = None) -> dict:
        return self.catalog.add_brand(name, meta_ad_account_id, ad_library_page_id)

    def edit_brand(self, ref: str | int, **changes) -> dict:
        """Change a brand's name, meta_ad_account_id or ad_library_page_id."""
        return self.catalog.update_brand(self.catalog.brand(ref)["id"], **changes)

    def competitors(self, brand: str | int | None = None) -> list[dict]:
        return self.catalog.competitors(self.catalog.brand(brand)["id"] if brand is not None else None)

    def competitor(self, ref: str | int, brand: str | int | None = None) -> dict:
        return self.catalog.competitor(ref, brand_id=self.catalog.brand(brand)["id"] if brand is not None else None)

    def add_competitor(self, brand: str | int, name: str, ad_library_url: str) -> dict:
        return self.catalog.add_competitor(self.catalog.brand(brand)["id"], name, ad_library_url,
                                           self.settings.ad_library_url)

    def edit_competitor(self, ref: str | int, brand: str | int | None = None, **changes) -> dict:
        """Change a competitor's name or ad_library_url."""
        competitor = self.competitor(ref, brand)
        return self.catalog.update_competitor(competitor["id"], self.settings.ad_library_url, **changes)

    # -- job types -----------------------------------------------------------
    def job_types(self) -> list[JobType]:
        return self.registry.all_job_types()

    def job_type(self, key: str) -> JobType:
        return self.registry.get(key)

    # -- queueing ------------------------------------------------------------
    def prepare(self, brand: str | int, job_type: str, params: dict | None = None,
                competitor: str | int | None = None) -> tuple[JobType, dict, dict | None, dict]:
        """Validate everything about a job without writing: (job type, brand, competitor, params)."""
        jt = self.registry.get(job_type)
        brand_row = self.catalog.brand(brand)
        params = dict(params or {})
        competitor_row = None
        if jt.scope == "competitor":
            ref = competitor if competitor is not None else params.get("competitor_id")
            if ref is None or ref == "":
                raise UserError(f"{jt.key} is a competitor job: name the competitor (--competitor NAME)")
            competitor_row = self.catalog.competitor(int(ref) if isinstance(ref, int) else ref, brand_id=brand_row["id"])
        elif competitor is not None:
            raise UserError(f"{jt.key} is a brand job and takes no competitor")
        jt.check_brand(brand_row)
        model = jt.validate(params, settings=self.settings, brand=brand_row, competitor=competitor_row)
        clean = model.model_dump(mode="json")
        if competitor_row is not None and clean.get("competitor_id") not in (None, competitor_row["id"]):
            raise UserError(f"competitor_id {clean['competitor_id']} does not match competitor {competitor_row['name']!r}")
        return jt, brand_row, competitor_row, clean

    def queue_one_time_job(self, brand: str | int, job_type: str, params: dict | None = None,
                           competitor: str | int | None = None, direct: bool = False, *,
                           schedule_id: int | None = None, retry_of: int | None = None) -> int:
        """Validate, record the run as queued, and (unless direct) hand it to the queue.

        Bad input raises a UserError and writes nothing. A direct run is only
        recorded here; run it with :meth:`execute_direct`.
        """
        jt, brand_row, competitor_row, clean = self.prepare(brand, job_type, params, competitor)
        queue = None if direct else self.queue  # open the queue before writing anything
        run_id = self.runs.create_run(job_type=jt.key, brand_id=brand_row["id"],
                                      competitor_id=competitor_row["id"] if competitor_row else None,
                                      params=clean, max_attempts=jt.max_attempts, direct=direct,
                                      schedule_id=schedule_id, retry_of=retry_of)
        if queue is not None:
            try:
                queue.enqueue(run_id)
            except UserError as exc:
                raise UserError(f"run {run_id} is recorded as queued, but {exc}; a worker will pick it up "
                                "once the queue is reachable") from None
        return run_id

    def execute_direct(self, run_id: int, echo: Callable[[str], None] | None = None,
                       executor_hook: Callable[[Any], None] | None = None) -> str:
        """Run a recorded run in this thread, through the same lifecycle as the worker."""
        from pipedeck.queue.executor import Executor

        executor = Executor(settings=self.settings, database=self.database, kind="direct", echo=echo,
                            on_requeue=lambda rid, delay: self._requeue_quietly(rid))
        executor.start()
        if executor_hook:
            executor_hook(executor)
        try:
            return executor.execute_until_settled(run_id)
        finally:
            executor.stop()

    def _requeue_quietly(self, run_id: int) -> None:
        try:
            self.queue.enqueue(run_id)
        except UserError:
            pass  # the worker's sweep re-sends it later

    # -- reading -------------------------------------------------------------
    def recent_runs(self, brand: str | int, job_type: str, competitor: str | int | None = None,
                    limit: int = 5) -> list[dict]:
        brand_row = self.catalog.brand(brand)
        self.registry.get(job_type)
        competitor_id = None
        if competitor is not None:
            competitor_id = self.catalog.competitor(competitor, brand_id=brand_row["id"])["id"]
        return with_summary(self.runs.list(brand_id=brand_row["id"], job_type=job_type,
                                           competitor_id=competitor_id, limit=limit))

    def list_runs(self, *, brand: str | int | None = None, job_type: str | None = None,
                  competitor: str | int | None = None, statuses: list[str] | None = None,
                  text: str | None = None, limit: int | None = 100,
                  before_id: int | None = None) -> list[dict]:
        """Runs newest first; ``before_id`` pages back (runs with a smaller id)."""
        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        if job_type is not None:
            self.registry.get(job_type)
        competitor_id = None
        if competitor is not None:
            competitor_id = self.catalog.competitor(competitor, brand_id=brand_id)["id"]
        for status in statuses or ():
            check_status(status)
        return with_summary(self.runs.list(brand_id=brand_id, job_type=job_type, competitor_id=competitor_id,
                                           statuses=statuses, text=text, limit=limit, before_id=before_id))

    @cached_property
    def run_windows(self):
        from pipedeck.storage.run_window import RunWindows

        return RunWindows(self.database)

    def run_window(self, run_filter, order=None, offset: int = 0, limit: int = 100, anchor_id: int | None = None,
                   anchor_line: int = 0):
        """The runs at positions [offset, offset + limit) of a filtered, sorted listing (a ``RunFilter`` and a
        ``RunOrder`` of concepts.run_query), with the listing's total; see storage/run_window.py."""
        from pipedeck.concepts.run_query import NEWEST_FIRST

        window = self.run_windows.window(run_filter, order or NEWEST_FIRST, offset, limit, anchor_id, anchor_line)
        with_summary(window.rows)
        return window

    def iter_runs(self, run_filter, order=None, chunk: int = 1000):
        """Every run of a listing, in order, a chunk at a time (for exports)."""
        from pipedeck.concepts.run_query import NEWEST_FIRST

        for run in self.run_windows.iter_runs(run_filter, order or NEWEST_FIRST, chunk):
            yield with_summary([run])[0]

    def export_runs(self, run_filter, order=None, fmt: str = "csv") -> tuple[str, int]:
        """Every run of a listing (the runs table's filter and sort) to a file in the data dir's exports
        folder, as CSV or JSON; returns (path, how many). Read a chunk at a time, written as read."""
        from pipedeck.concepts import export

        directory = self.settings.home / "exports"
        path = directory / export.stamped("runs", fmt, self.clock())
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as out:
                count = export.write((export.run_record(r) for r in self.iter_runs(run_filter, order)), out, fmt)
        except OSError as exc:
            raise UserError(f"could not write the export to {path}: {exc.strerror or exc}") from None
        return str(path), count

    def insight_rows(self, brand: str | int, since: str | None = None):
        """The brand's synced daily performance rows (from ``since``, YYYY-MM-DD), by date and ad."""
        from pipedeck.storage import meta

        brand_id = self.catalog.brand(brand)["id"]
        if since is not None:
            import datetime as dt

            try:
                dt.date.fromisoformat(since)
            except ValueError:
                raise UserError(f"--since must be a date as YYYY-MM-DD, got {since!r}") from None
        return meta.iter_insights(self.database, brand_id, since)

    def trends(self, window_key: str = "7d", brand: str | int | None = None) -> dict:
        """Per job type and per brand over a window (concepts.trends.WINDOWS): the summaries (runs,
        failure rate, p50/p95), each bucket's figures for the sparklines, the slowest and most failing."""
        from pipedeck.concepts import trends as concept
        from pipedeck.storage import trends

        window = concept.WINDOWS[window_key]
        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        until = self.clock()
        # Whole buckets ending now: the last sparkline point is the current hour or day so far.
        since = until - window.seconds
        type_series = trends.series(self.database, "job_type", since, until, window.bucket, brand_id)
        brand_series = trends.series(self.database, "brand", since, until, window.bucket, brand_id)
        by_type = trends.summary(self.database, "job_type", since, until, brand_id, buckets=type_series)
        by_brand = trends.summary(self.database, "brand", since, until, brand_id, buckets=brand_series)
        names = {b["id"]: b["name"] for b in self.brands()}
        for row in by_brand:
            row["name"] = names.get(row["key"], str(row["key"]))
        return {"window": window, "since": since, "until": until, "by_type": by_type, "by_brand": by_brand,
                "type_series": type_series, "brand_series": brand_series,
                "slowest": concept.slowest(by_type), "most_failing": concept.most_failing(by_type)}

    def recent_durations(self, brand_id: int, per_type: int = 30) -> dict[str, list[float]]:
        """Per job type, the brand's last ``per_type`` finished runs' durations, oldest first."""
        from pipedeck.storage import trends

        return trends.recent_durations(self.database, brand_id, per_type)

    def sync_run_search(self, batch: int | None = None) -> int:
        """Bring the runs' text index up to date by one batch; returns how many runs it indexed (0: current)."""
        from pipedeck.storage import run_search

        return run_search.sync(self.database, batch or run_search.BATCH)

    def run(self, run_id: int) -> dict:
        """One run, with its log summary."""
        return with_summary([self.runs.get(run_id)])[0]

    def run_logs(self, run_id: int, after_id: int = 0, limit: int | None = None,
                 tail: int | None = None) -> list[dict]:
        return self.runs.logs(run_id, after_id=after_id, limit=limit, tail=tail)

    def run_attempts(self, run_id: int) -> list[dict]:
        return self.runs.attempts(run_id)

    def live_rev(self) -> int:
        """The run store's change counter: runs_changed_since(live_rev()) sees every later change."""
        return self.runs.max_rev()

    def runs_changed_since(self, rev: int, limit: int = 1000) -> list[dict]:
        return with_summary(self.runs.changed_since(rev, limit=limit))

    def run_detail(self, run_id: int, log_tail: int | None = 200) -> dict:
        run = self.run(run_id)
        return {"run": run, "attempts": self.runs.attempts(run_id),
                "logs": self.runs.logs(run_id, tail=log_tail) if log_tail else self.runs.logs(run_id)}

    # -- acting on runs ------------------------------------------------------
    def retry(self, run_id: int, params: dict | None = None, direct: bool = False) -> int:
        """Queue a new run with the same (or edited) params; the old one links to it."""
        run = self.runs.get(run_id)
        if run["status"] not in TERMINAL:
            raise UserError(f"run {run_id} is still {run['status']}; cancel it first or wait for it to end")
        merged = dict(run["params"])
        if params:
            merged.update(params)
        return self.queue_one_time_job(run["brand_id"], run["job_type"], merged,
                                       competitor=run["competitor_id"], direct=direct, retry_of=run_id)

    def cancel(self, run_id: int) -> str:
        return self.runs.request_cancel(run_id)

    def retry_many(self, run_ids: list[int]) -> dict[int, int | str]:
        """Retry each; returns {old id: new id, or the one-line reason it was skipped}."""
        out: dict[int, int | str] = {}
        for run_id in run_ids:
            try:
                out[run_id] = self.retry(run_id)
            except UserError as exc:
                out[run_id] = str(exc)
        return out

    def cancel_many(self, run_ids: list[int]) -> dict[int, str]:
        out = {}
        for run_id in run_ids:
            try:
                out[run_id] = self.cancel(run_id)
            except UserError as exc:
                out[run_id] = str(exc)
        return out

    def failed_runs(self, brand: str | int | None = None, job_type: str | None = None) -> list[int]:
        """Failed runs not yet retried: 'retry all failed meta_sync for this brand'."""
        return [r["id"] for r in self.list_runs(brand=brand, job_type=job_type, statuses=[FAILED], limit=None)
                if not r["retried_by"]]

    # -- schedules -----------------------------------------------------------
    def add_schedule(self, job_type: str, brand: str | int, *, cron: str, tz: str = "UTC",
                     competitor: str | int | None = None, params: dict | None = None,
                     missed_policy: str = "skip", active: bool = True) -> dict:
        """Validate everything (job, params, cron, zone, policy), then save. Bad input saves nothing."""
        from pipedeck.queue import scheduler
        from pipedeck.storage import schedules

        jt, brand_row, competitor_row, clean = self.prepare(brand, job_type, params, competitor)
        self._check_schedule(cron, tz, missed_policy)
        # Keep only what the user chose (typed); defaults from records are filled at each occurrence.
        own = {key: clean[key] for key in (params or {})}
        now = self.clock()
        schedule_id = schedules.create(
            self.database, job_type=jt.key, brand_id=brand_row["id"],
            competitor_id=competitor_row["id"] if competitor_row else None, params=own,
            cron=" ".join(cron.split()), tz=tz, missed_policy=missed_policy, active=active,
            next_run_at=scheduler.next_after(cron, tz, now) if active else None, now=now)
        return self.schedule(schedule_id)

    def _check_schedule(self, cron: str, tz: str, missed_policy: str) -> str:
        from pipedeck.queue import scheduler

        if missed_policy not in scheduler.MISSED_POLICIES:
            raise UserError(f"unknown missed-run policy {missed_policy!r} (one of {', '.join(scheduler.MISSED_POLICIES)})")
        scheduler.zone(tz)
        return scheduler.check_cron(cron, tz)

    def schedule(self, schedule_id: int) -> dict:
        from pipedeck.queue import scheduler
        from pipedeck.storage import schedules

        row = schedules.get(self.database, schedule_id)
        row["explain"] = scheduler.check_cron(row["cron"], row["tz"])
        return row

    def schedules(self, brand: str | int | None = None, competitor: str | int | None = None) -> list[dict]:
        from pipedeck.queue import scheduler
        from pipedeck.storage import schedules

        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        competitor_id = self.catalog.competitor(competitor, brand_id=brand_id)["id"] if competitor is not None else None
        rows = schedules.list_(self.database, brand_id=brand_id, competitor_id=competitor_id)
        for row in rows:
            try:
                row["explain"] = scheduler.check_cron(row["cron"], row["tz"])
            except UserError:
                row["explain"] = row["cron"]
        return rows

    def pause_schedule(self, schedule_id: int) -> dict:
        from pipedeck.storage import schedules

        schedules.get(self.database, schedule_id)
        schedules.update(self.database, schedule_id, self.clock(), active=0, next_run_at=None)
        return self.schedule(schedule_id)

    def resume_schedule(self, schedule_id: int) -> dict:
        """Resume at the next occurrence from now; occurrences while paused are not made up."""
        from pipedeck.queue import scheduler
        from pipedeck.storage import schedules

        row = schedules.get(self.database, schedule_id)
        now = self.clock()
        schedules.update(self.database, schedule_id, now, active=1,
                         next_run_at=scheduler.next_after(row["cron"], row["tz"], now))
        return self.schedule(schedule_id)

    def edit_schedule(self, schedule_id: int, *, cron: str | None = None, tz: str | None = None,
                      params: dict | None = None, missed_policy: str | None = None) -> dict:
        """Change a schedule; params given here replace the listed keys (None removes a key)."""
        from pipedeck.queue import scheduler
        from pipedeck.storage import schedules

        row = schedules.get(self.database, schedule_id)
        new_cron = " ".join(cron.split()) if cron is not None else row["cron"]
        new_tz = tz if tz is not None else row["tz"]
        new_policy = missed_policy if missed_policy is not None else row["missed_policy"]
        new_params = dict(row["params"])
        for key, value in (params or {}).items():
            if value is None:
                new_params.pop(key, None)
            else:
                new_params[key] = value
        self._check_schedule(new_cron, new_tz, new_policy)
        clean = self.prepare(row["brand_id"], row["job_type"], new_params, row["competitor_id"])[3]
        new_params = {key: clean[key] for key in new_params}
        changes: dict = {"cron": new_cron, "tz": new_tz, "missed_policy": new_policy, "params": new_params}
        if row["active"] and (new_cron != row["cron"] or new_tz != row["tz"]):
            changes["next_run_at"] = scheduler.next_after(new_cron, new_tz, self.clock())
        schedules.update(self.database, schedule_id, self.clock(), **changes)
        return self.schedule(schedule_id)

    def remove_schedule(self, schedule_id: int) -> None:
        from pipedeck.storage import schedules

        schedules.delete(self.database, schedule_id)

    def schedule_history(self, schedule_id: int, limit: int = 50) -> list[dict]:
        from pipedeck.storage import schedules

        schedules.get(self.database, schedule_id)
        return schedules.events(self.database, schedule_id, limit)

    def tick(self, now: float | None = None):
        """Run one scheduler tick (workers do this every couple of seconds)."""
        from pipedeck.queue import scheduler

        return scheduler.tick(self.database, self.settings, self.clock() if now is None else now,
                              enqueue=self._requeue_quietly)

    # -- freshness policies ----------------------------------------------------
    def datasets(self, scope: str | None = None) -> list[ds.Dataset]:
        return self.registry.datasets(scope)

    def set_freshness_policy(self, dataset: str, warn_after: float, stale_after: float,
                             brand: str | int | None = None) -> None:
        from pipedeck.storage import freshness as fr

        self.registry.dataset(dataset)
        if not (0 < warn_after < stale_after):
            raise UserError("a freshness policy needs 0 < warn-after < stale-after")
        brand_id = self.catalog.brand(brand)["id"] if brand is not None else 0
        fr.set_policy(self.database, brand_id, dataset, ds.Policy(warn_after, stale_after))

    def clear_freshness_policy(self, dataset: str, brand: str | int | None = None) -> bool:
        from pipedeck.storage import freshness as fr

        brand_id = self.catalog.brand(brand)["id"] if brand is not None else 0
        return fr.clear_policy(self.database, brand_id, dataset)

    def freshness_policies(self) -> list[dict]:
        """Built-in defaults plus stored overrides, each with where it comes from."""
        from pipedeck.storage import freshness as fr

        rows = []
        stored = fr.policies(self.database)
        names = {b["id"]: b["name"] for b in self.catalog.brands()}
        for dataset in self.datasets():
            policy, source = ds.policy_for(stored, 0, dataset)
            rows.append({"brand": None, "dataset": dataset.key, "warn_after": policy.warn_after,
                         "stale_after": policy.stale_after, "source": source})
        for (brand_id, key), policy in sorted(stored.items()):
            if brand_id:
                rows.append({"brand": names.get(brand_id, str(brand_id)), "dataset": key,
                             "warn_after": policy.warn_after, "stale_after": policy.stale_after,
                             "source": ds.BRAND})
        return rows

    # -- Ad Library data -----------------------------------------------------
    def competitor_ads(self, competitor: str | int, brand: str | int | None = None, *,
                       search: str | None = None, limit: int | None = 500) -> list[dict]:
        from pipedeck.storage import adlibrary

        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        comp = self.catalog.competitor(competitor, brand_id=brand_id)
        return adlibrary.competitor_ads(self.database, comp["id"], search=search, limit=limit)

    def templates(self, brand: str | int | None = None, status: str | None = "pending",
                  limit: int | None = 500) -> list[dict]:
        from pipedeck.storage import adlibrary

        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        return adlibrary.templates(self.database, brand_id, status, limit)

    def template_counts(self, brand: str | int | None = None) -> dict[str, int]:
        """Templates per review status: {'pending': 95, 'approved': 1, 'rejected': 0}."""
        from pipedeck.storage import adlibrary

        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        return adlibrary.template_counts(self.database, brand_id)

    def review_templates(self, template_ids: list[int], status: str) -> int:
        """Approve ('approved'), reject ('rejected') or reopen ('pending') templates."""
        from pipedeck.storage import adlibrary

        return adlibrary.set_template_status(self.database, list(template_ids), status, clock=self.clock)

    def asset_files(self, sha256s) -> dict:
        """Where stored assets (e.g. templates' preview images) live under PIPEDECK_MEDIA_DIR, by content hash,
        whether or not this machine can reach the file (in team mode another machine may have stored it
        in a media dir this one does not share)."""
        from pipedeck.storage import meta

        return {sha256: self.settings.media_dir / relative
                for sha256, relative in meta.asset_paths(self.database, [s for s in sha256s if s]).items()}

    def asset_paths(self, sha256s) -> dict:
        """:meth:`asset_files` that this machine can read; the others left out."""
        return {sha256: path for sha256, path in self.asset_files(sha256s).items() if path.exists()}

    def asset_path(self, sha256: str | None):
        """Where a stored asset lives (it may be unreachable from this machine: check ``exists()``), or None
        when nothing is stored for it."""
        return self.asset_files([sha256]).get(sha256) if sha256 else None

    # -- health --------------------------------------------------------------
    def queue_depth(self) -> dict[str, int]:
        counts = self.runs.counts()
        return counts

    def worker_health(self, include_stopped: bool = False) -> list[dict]:
        """Workers with ``alive``: heartbeat fresh by the database's clock (and, on this host, their
        process alive); with ``include_stopped``, stopped ones too, ``died`` saying which of those
        were stopped by another worker's recovery rather than by their own shutdown."""
        out = []
        for w in self.runs.workers(include_stopped=include_stopped):
            age = max(0.0, w["heartbeat_age"])
            alive = w["status"] != "stopped" and age <= self.settings.stale_after
            if alive and w["host"] == self.settings.host_id:
                alive = pid_alive(w["pid"], w["proc_start"])
            # A worker's own shutdown stamps its heartbeat with its stop; a recovery stops it later.
            died = w["status"] == "stopped" and (w["stopped_at"] or 0) - w["heartbeat_at"] > \
                2 * self.settings.heartbeat_interval
            out.append({**w, "heartbeat_age": age, "alive": alive, "died": died})
        return out

    def worker_details(self, include_stopped: bool = False) -> list[dict]:
        """``worker_health`` and, per worker, its uptime, the runs it has done, the runs it holds now
        and its last error (see RunStore.worker_activity): the workers view and ``pipedeck status``."""
        now = self.clock()
        workers = self.worker_health(include_stopped=include_stopped)
        activity = self.runs.worker_activity([w["id"] for w in workers])
        return [{**w, **activity[w["id"]], "uptime": (w["stopped_at"] or now) - w["started_at"]} for w in workers]

    # -- alerts --------------------------------------------------------------
    def alert_pump(self, claimant: str, *, desktop: bool = True):
        from pipedeck.queue.alerts import AlertPump

        return AlertPump(self, claimant, clock=self.clock, desktop=desktop)

    def recent_alerts(self, limit: int = 50) -> list[dict]:
        from pipedeck.storage import alerts

        return alerts.recent(self.database, limit)

    def alert_delivery_error(self) -> dict | None:
        from pipedeck.storage import alerts

        return alerts.last_delivery_error(self.database)

    def send_test_alert(self) -> str | None:
        """Send a test message to every PIPEDECK_ALERT_URLS target; None when all took it, else why not."""
        from pipedeck.handlers.context import redact
        from pipedeck.queue.alerts import send

        targets = self.settings.alert_targets()
        if not targets:
            raise UserError("PIPEDECK_ALERT_URLS is not set: nowhere to send a test alert")
        error = send(targets, "pipedeck test alert", f"pipedeck can reach this target ({len(targets)} set up).")
        return redact(error, self.settings.secrets()) if error else None

    def freshness(self, brand: str | int | None = None, now: float | None = None) -> list[dict]:
        return _freshness_rows(self, brand, now)

    def live_workers(self) -> list[dict]:
        return [w for w in self.worker_health() if w["alive"]]

    def database_status(self) -> dict:
        """Engine, file, schema version and rows per table (`pipedeck db status`)."""
        from pipedeck.storage.status import database_status

        return database_status(self.database)


def _freshness_rows(service: "Service", brand: str | int | None = None, now: float | None = None) -> list[dict]:
    """Every (brand, competitor, dataset) with its state and reason; the CLI and TUI both use this."""
    from pipedeck.storage import freshness as fr

    now = service.clock() if now is None else now
    brands = [service.catalog.brand(brand)] if brand is not None else service.catalog.brands()
    brand_datasets, competitor_datasets = service.registry.datasets("brand"), service.registry.datasets("competitor")
    stored = fr.policies(service.database)
    recorded = {(r["brand_id"], r["competitor_id"], r["dataset"]): r for r in service.runs.freshness(
        brands[0]["id"] if brand is not None and brands else None)}
    out = []
    for b in brands:
        targets = [(None, d) for d in brand_datasets]
        for c in service.catalog.competitors(b["id"]):
            targets += [(c, d) for d in competitor_datasets]
        for comp, dataset in targets:
            row = recorded.get((b["id"], comp["id"] if comp else 0, dataset.key))
            policy, source = ds.policy_for(stored, b["id"], dataset)
            state, reason = ds.assess(row, policy, now, source)
            warning = result_warning(row.get("last_success_result")) if row else None
            if warning:
                reason += f"; run {row['last_success_run_id']} warned: {warning}"
            measured = dataset.completeness(service.database, b, dataset.completeness_window, now) \
                if dataset.completeness and comp is None else None
            out.append({"brand": b["name"], "brand_id": b["id"], "competitor": comp["name"] if comp else None,
                        "competitor_id": comp["id"] if comp else None, "dataset": dataset.key,
                        "title": dataset.title, "state": state, "reason": reason, "source": source,
                        "warn_after": policy.warn_after, "stale_after": policy.stale_after,
                        "last_success_at": row["last_success_at"] if row else None,
                        "last_success_run_id": row["last_success_run_id"] if row else None,
                        "last_failure_at": row["last_failure_at"] if row else None,
                        "last_error": row["last_error"] if row else None,
                        "completeness": measured.as_dict() if measured else None})
    return out


def copy_database(settings: Settings, *, to: str, source: str | None = None, force: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> dict:
    """`pipedeck db copy`: every table from ``source`` (default: the configured database) to ``to``,
    ids kept, counts verified on the target. A function, not a Service method: the configured
    database need not be reachable when both ends are named."""
    from pipedeck.storage.copy import copy_database as copy
    from pipedeck.storage.db import Database, target_of

    # Both URLs checked before either database is opened (opening one migrates it).
    source_target, to_target = target_of(source if source else settings.database), target_of(to)
    src = Database(source_target, busy_timeout=settings.busy_timeout)
    try:
        dst = Database(to_target, busy_timeout=settings.busy_timeout)
        try:
            tables = copy(src, dst, force=force, progress=progress)
        finally:
            dst.close()
    finally:
        src.close()
    return {"from": src.target.shown, "to": dst.target.shown, "force": force,
            "tables": {t.table: {"source_rows": t.source_rows, "target_rows": t.target_rows, "verified": t.verified}
                       for t in tables}}
