"""The one registry of job types.

Each job type is named once here: key, emoji, label, params model (defaults
and bounds), scope, the key that queues it on its brand's or competitor's
screen, the datasets a success refreshes, its retry policy and its handler.
Each dataset is named once too: its key, its title on screen and its default
freshness policy. The CLI, the TUI (forms, keys, columns), the freshness
view, the worker's dispatch and the docs all read them. Adding a job type
means one handler module, its params model and one entry below (plus a
dataset entry if it refreshes a new dataset).

Importing the registry imports no handler: each entry names its handler by
module path, imported when a run executes (:meth:`JobType.resolve_handler`;
a worker imports them all at start with :func:`import_handlers`), and its
params model lives in a light module (the built-in ones in
:mod:`pipedeck.handlers.params`). So listing runs, freshness or brands never
pays for httpx, Playwright or the handlers' own code.

Extra job types (tests, benchmarks, site-specific jobs) live in modules named
by ``PIPEDECK_PLUGINS`` (comma-separated); every process, the worker
included, imports them at start, and each calls :func:`register`.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ValidationError

from pipedeck.concepts.datasets import Dataset, Policy
from pipedeck.concepts.durations import DAY, HOUR
from pipedeck.errors import InvalidParams, UserError
from pipedeck.handlers.params import (AssetDownloadParams, CompetitorScrapeParams, MetaSyncParams,
                                      TemplateScrapeParams, format_validation_error)
from pipedeck.storage.meta import insight_completeness
from pipedeck.urls import page_search_url

Handler = Callable[[Any, BaseModel], "dict | None"]


@dataclass(frozen=True)
class JobType:
    key: str
    emoji: str
    label: str
    params_model: type[BaseModel]
    scope: Literal["brand", "competitor"]
    # Keys of the datasets (registered with register_dataset) a success refreshes.
    datasets: tuple[str, ...]
    # "package.module" whose run(ctx, params) does the work (imported only when a run executes),
    # or the callable itself.
    handler: str | Handler
    description: str = ""
    max_attempts: int = 3
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    # Brand fields that must be set to queue this job, each with the hint shown when missing.
    brand_requires: tuple[tuple[str, str], ...] = ()
    # Fills params from the brand / competitor record; the user's values win.
    prefill: Callable[[dict, dict | None, Any], dict] | None = field(default=None, compare=False)
    # How to supply a required param that is missing, by field name.
    missing_hints: tuple[tuple[str, str], ...] = ()
    # The key that opens this job's form on its brand's (or competitor's) screen, if any,
    # and the footer's word for it (default: the label).
    screen_key: str | None = None
    short_label: str = ""

    @property
    def title(self) -> str:
        return f"{self.emoji} {self.label}"

    @property
    def key_label(self) -> str:
        return self.short_label or self.label

    def resolve_handler(self) -> Handler | None:
        if callable(self.handler):
            return self.handler
        module = importlib.import_module(self.handler)
        return getattr(module, "run", None)

    def defaults(self) -> dict:
        """Default values of the params that have one."""
        out = {}
        for name, f in self.params_model.model_fields.items():
            if not f.is_required():
                out[name] = f.get_default(call_default_factory=True)
        return out

    def backoff(self, failures: int) -> float:
        """Seconds before the next attempt after ``failures`` failed attempts."""
        return min(self.backoff_max, self.backoff_base * (2 ** max(0, failures - 1)))

    def validate(self, params: dict, *, settings, brand: dict | None = None,
                 competitor: dict | None = None) -> BaseModel:
        merged = dict(self.prefill(brand or {}, competitor, settings) if self.prefill else {})
        merged.update({k: v for k, v in params.items()})
        try:
            return self.params_model.model_validate(merged, context={"ad_library_origin": settings.ad_library_url})
        except ValidationError as exc:
            raise InvalidParams(format_validation_error(self.key, exc, dict(self.missing_hints))) from None

    def check_brand(self, brand: dict) -> None:
        for field_name, hint in self.brand_requires:
            if not brand.get(field_name):
                raise UserError(f"brand {brand['name']!r} has no {hint}, which {self.key} needs; "
                                f"set it with `pipedeck brands edit {brand['name']!r} ...`")


_REGISTRY: dict[str, JobType] = {}
_DATASETS: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset, *, replace: bool = False) -> Dataset:
    if dataset.key in _DATASETS and not replace and _DATASETS[dataset.key] != dataset:
        raise ValueError(f"dataset {dataset.key!r} is already registered")
    if not 0 < dataset.policy.warn_after < dataset.policy.stale_after:
        raise ValueError(f"dataset {dataset.key!r}: its policy needs 0 < warn_after < stale_after")
    if (dataset.completeness_window is None) != (dataset.completeness is None) or \
            (dataset.completeness_window is not None and dataset.completeness_window < 1):
        raise ValueError(f"dataset {dataset.key!r}: completeness needs both a window of at least one day "
                         "and the function that measures it")
    _DATASETS[dataset.key] = dataset
    return dataset


def register(job_type: JobType, *, replace: bool = False) -> JobType:
    if job_type.key in _REGISTRY and not replace and _REGISTRY[job_type.key] != job_type:
        raise ValueError(f"job type {job_type.key!r} is already registered")
    unknown = [d for d in job_type.datasets if d not in _DATASETS]
    if unknown:
        raise ValueError(f"job type {job_type.key!r} names unregistered dataset(s) {', '.join(unknown)}: "
                         "register_dataset() them first")
    taken = {jt.screen_key: jt.key for jt in _REGISTRY.values()
             if jt.screen_key and jt.scope == job_type.scope and jt.key != job_type.key}
    if job_type.screen_key in taken:
        raise ValueError(f"job type {job_type.key!r}: screen key {job_type.screen_key!r} is taken by "
                         f"{taken[job_type.screen_key]}")
    _REGISTRY[job_type.key] = job_type
    return job_type


def get(key: str) -> JobType:
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown job type {key!r} (known: {known})") from None


def all_job_types(scope: str | None = None) -> list[JobType]:
    return [jt for jt in _REGISTRY.values() if scope is None or jt.scope == scope]


def dataset(key: str) -> Dataset:
    try:
        return _DATASETS[key]
    except KeyError:
        raise UserError(f"unknown dataset {key!r} (one of {', '.join(d.key for d in datasets())})") from None


def datasets(scope: str | None = None) -> list[Dataset]:
    """Datasets refreshed by the job types (of one scope, if given), in registry order."""
    keys: list[str] = []
    for jt in all_job_types(scope):
        keys += [k for k in jt.datasets if k not in keys]
    return [_DATASETS[k] for k in keys]


def import_handlers() -> None:
    """Import every registered handler now, and run its module's ``prepare()`` if it has one (work
    done once per process, such as building the TLS context), so that no run pays for either. A
    worker calls this at start; nothing else needs to. A handler that cannot be imported is logged
    and left for its runs to fail with the reason."""
    for job_type in all_job_types():
        if callable(job_type.handler):
            continue
        try:
            prepare = getattr(importlib.import_module(job_type.handler), "prepare", None)
            if callable(prepare):
                prepare()
        except Exception:  # noqa: BLE001 - reported by the run that needs it
            logging.getLogger("pipedeck.registry").warning("cannot import the handler of %s", job_type.key,
                                                           exc_info=True)


_loaded_plugins: set[str] = set()


def load_plugins(modules: tuple[str, ...] | list[str]) -> None:
    for name in modules:
        if name in _loaded_plugins:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UserError(f"cannot import job-type plugin {name!r} named in PIPEDECK_PLUGINS: {exc}") from None
        _loaded_plugins.add(name)


def _competitor_prefill(brand: dict, competitor: dict | None, settings) -> dict:
    if not competitor:
        return {}
    return {"competitor_id": competitor["id"], "ad_library_url": competitor["ad_library_url"]}


def _template_prefill(brand: dict, competitor: dict | None, settings) -> dict:
    if brand.get("ad_library_page_id"):
        return {"search_url": page_search_url(settings.ad_library_url, brand["ad_library_page_id"])}
    return {}


META_ACCOUNT = ("meta_ad_account_id", "Meta ad account id (--meta-ad-account)")

register_dataset(Dataset("meta_performance", "Performance", Policy(26 * HOUR, 50 * HOUR),
                         completeness_window=30, completeness=insight_completeness))
register_dataset(Dataset("ad_assets", "Assets", Policy(7 * DAY, 14 * DAY)))
register_dataset(Dataset("competitor_ads", "Competitor ads", Policy(7 * DAY, 10 * DAY)))
register_dataset(Dataset("templates", "Templates", Policy(7 * DAY, 14 * DAY)))

register(JobType(
    key="meta_sync", emoji="📊", label="Sync Meta ad performance",
    description="Daily ad-level insights (spend, impressions, clicks, actions) from the Meta Marketing API.",
    params_model=MetaSyncParams, scope="brand", datasets=("meta_performance",),
    handler="pipedeck.handlers.meta_sync", max_attempts=4, brand_requires=(META_ACCOUNT,), screen_key="m",
    short_label="Meta sync"))
register(JobType(
    key="asset_download", emoji="📥", label="Download ad images & videos",
    description="Images and videos of the brand's ads, stored once each by content hash.",
    params_model=AssetDownloadParams, scope="brand", datasets=("ad_assets",),
    handler="pipedeck.handlers.asset_download", max_attempts=3, brand_requires=(META_ACCOUNT,), screen_key="a",
    short_label="Assets"))
register(JobType(
    key="competitor_scrape", emoji="🔎", label="Scrape competitor ads",
    description="A competitor's ads from the Meta Ad Library, read with headless Chromium.",
    params_model=CompetitorScrapeParams, scope="competitor", datasets=("competitor_ads",),
    handler="pipedeck.handlers.competitor_scrape", max_attempts=3, prefill=_competitor_prefill, screen_key="s",
    short_label="Scrape"))
register(JobType(
    key="template_scrape", emoji="🧩", label="Scrape ad templates",
    description="Ads from an Ad Library search into the template review queue.",
    params_model=TemplateScrapeParams, scope="brand", datasets=("templates",),
    handler="pipedeck.handlers.template_scrape", max_attempts=3, prefill=_template_prefill,
    missing_hints=(("search_url", "pass --set search_url=URL, or give the brand an Ad Library page id with "
                                  "`pipedeck brands edit NAME --ad-library-page-id ID`"),), screen_key="t",
    short_label="Templates"))
