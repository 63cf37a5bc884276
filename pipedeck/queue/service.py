"""The service API the CLI and the TUI call: queue, inspect, retry, cancel.

    svc = Service(load_settings())
    run_id = svc.queue_one_time_job("Acme", "asset_download", {"max_images": 10})
    svc.recent_runs("Acme", "asset_download")
"""

from __future__ import annotations

import time
from typing import Any, Callable

from pipedeck.config import Settings, ensure_home
from pipedeck.errors import NotFound, UserError
from pipedeck.handlers import registry
from pipedeck.handlers.registry import JobType
from pipedeck.queue.procs import HOSTNAME, pid_alive
from pipedeck.storage.catalog import Catalog
from pipedeck.storage.db import Database
from pipedeck.storage.runs import ACTIVE, FAILED, TERMINAL, RunStore


def log_summary(run: dict) -> str:
    """One line saying how a run is doing or how it ended."""
    status = run["status"]
    if status == "failed" and run.get("error_message"):
        return f"{run.get('error_type') or 'Error'}: {run['error_message']}"
    if status == "retrying" and run.get("error_message"):
        return f"retry {run['failures'] + 1}/{run['max_attempts']} pending after {run['error_message']}"
    if status == "running" and run.get("progress_total"):
        msg = f" {run['progress_message']}" if run.get("progress_message") else ""
        return f"{run['progress_current']:.0f}/{run['progress_total']:.0f}{msg}"
    return run.get("summary") or run.get("progress_message") or ""


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 database: Database | None = None) -> None:
        self.settings = settings
        self.clock = clock
        ensure_home(settings)
        registry.load_plugins(settings.plugins)
        self.database = database or Database(settings.db_path, busy_timeout=settings.busy_timeout)
        self.catalog = Catalog(self.database, clock=clock)
        self.runs = RunStore(self.database, clock=clock)
        self._queue = None

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

    # -- job types -----------------------------------------------------------
    def job_types(self) -> list[JobType]:
        return registry.all_job_types()

    def job_type(self, key: str) -> JobType:
        return registry.get(key)

    # -- queueing ------------------------------------------------------------
    def prepare(self, brand: str | int, job_type: str, params: dict | None = None,
                competitor: str | int | None = None) -> tuple[JobType, dict, dict | None, dict]:
        """Validate everything about a job without writing: (job type, brand, competitor, params)."""
        jt = registry.get(job_type)
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
        registry.get(job_type)
        competitor_id = None
        if competitor is not None:
            competitor_id = self.catalog.competitor(competitor, brand_id=brand_row["id"])["id"]
        rows = self.runs.list(brand_id=brand_row["id"], job_type=job_type, competitor_id=competitor_id, limit=limit)
        for row in rows:
            row["log_summary"] = log_summary(row)
        return rows

    def list_runs(self, *, brand: str | int | None = None, job_type: str | None = None,
                  competitor: str | int | None = None, statuses: list[str] | None = None,
                  text: str | None = None, limit: int | None = 100,
                  before_id: int | None = None) -> list[dict]:
        """Runs newest first; ``before_id`` pages back (runs with a smaller id)."""
        brand_id = self.catalog.brand(brand)["id"] if brand is not None else None
        if job_type is not None:
            registry.get(job_type)
        competitor_id = None
        if competitor is not None:
            competitor_id = self.catalog.competitor(competitor, brand_id=brand_id)["id"]
        for status in statuses or ():
            if status not in ACTIVE + TERMINAL:
                raise UserError(f"unknown status {status!r} (one of {', '.join(ACTIVE + TERMINAL)})")
        rows = self.runs.list(brand_id=brand_id, job_type=job_type, competitor_id=competitor_id,
                              statuses=statuses, text=text, limit=limit, before_id=before_id)
        for row in rows:
            row["log_summary"] = log_summary(row)
        return rows

    def run_detail(self, run_id: int, log_tail: int | None = 200) -> dict:
        run = self.runs.get(run_id)
        run["log_summary"] = log_summary(run)
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

    def review_templates(self, template_ids: list[int], status: str) -> int:
        """Approve ('approved'), reject ('rejected') or reopen ('pending') templates."""
        from pipedeck.storage import adlibrary

        return adlibrary.set_template_status(self.database, list(template_ids), status, clock=self.clock)

    # -- health --------------------------------------------------------------
    def queue_depth(self) -> dict[str, int]:
        counts = self.runs.counts()
        return counts

    def worker_health(self) -> list[dict]:
        now = self.clock()
        out = []
        for w in self.runs.workers():
            age = now - w["heartbeat_at"]
            alive = age <= self.settings.stale_after
            if alive and w["host"] == HOSTNAME:
                alive = pid_alive(w["pid"], w["proc_start"])
            out.append({**w, "heartbeat_age": age, "alive": alive})
        return out

    def freshness(self, brand: str | int | None = None, now: float | None = None) -> list[dict]:
        return _freshness_rows(self, brand, now)

    def live_workers(self) -> list[dict]:
        return [w for w in self.worker_health() if w["alive"]]


def _freshness_rows(service: "Service", brand: str | int | None = None, now: float | None = None) -> list[dict]:
    """Every (brand, competitor, dataset) with its state and reason; the CLI and TUI both use this."""
    from pipedeck.storage import freshness as fr

    now = service.clock() if now is None else now
    brands = [service.catalog.brand(brand)] if brand is not None else service.catalog.brands()
    brand_datasets, competitor_datasets = [], []
    for jt in registry.all_job_types():
        target = competitor_datasets if jt.scope == "competitor" else brand_datasets
        for ds in jt.datasets:
            if ds not in target and not jt.key.startswith("test_"):
                target.append(ds)
    stored = fr.policies(service.database)
    recorded = {(r["brand_id"], r["competitor_id"], r["dataset"]): r for r in service.runs.freshness(
        brands[0]["id"] if brand is not None and brands else None)}
    out = []
    for b in brands:
        targets = [(None, ds) for ds in brand_datasets]
        for c in service.catalog.competitors(b["id"]):
            targets += [(c, ds) for ds in competitor_datasets]
        for comp, ds in targets:
            row = recorded.get((b["id"], comp["id"] if comp else 0, ds))
            policy, source = fr.policy_for(stored, b["id"], ds)
            state, reason = fr.assess(row, policy, now, source)
            out.append({"brand": b["name"], "brand_id": b["id"], "competitor": comp["name"] if comp else None,
                        "competitor_id": comp["id"] if comp else None, "dataset": ds, "state": state,
                        "reason": reason, "warn_after": policy.warn_after, "stale_after": policy.stale_after,
                        "last_success_at": row["last_success_at"] if row else None,
                        "last_success_run_id": row["last_success_run_id"] if row else None,
                        "last_failure_at": row["last_failure_at"] if row else None,
                        "last_error": row["last_error"] if row else None})
    return out
