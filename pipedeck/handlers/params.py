"""The params models of the built-in job types, and the pieces every params model shares.

A light module on purpose: the CLI and the TUI validate params and build
forms from these models, so importing them must not import a handler, httpx
or Playwright (the handlers are imported only when a job runs).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from pipedeck.urls import validate_ad_library_url

# Meta keeps insights for 37 months.
MAX_DAYS_BACK = 1125


class JobParams(BaseModel):
    """Base of every job's params: unknown keys are errors, values are validated on assignment."""

    # defer_build: a model's validator is built when it first validates, not when listings import it.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


def ad_library_url_validator(value: str, info: ValidationInfo) -> str:
    origin = (info.context or {}).get("ad_library_origin")
    if origin is None:
        from pipedeck.config import load_settings

        origin = load_settings().ad_library_url
    return validate_ad_library_url(value, origin)


def format_validation_error(job_type: str, exc: ValidationError, hints: dict[str, str] | None = None) -> str:
    """One line naming each bad field: 'max_images: must be ≤ 2000 (got 5000)'.

    ``hints`` says, per field, how to supply a missing required value.
    """
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or "params"
        msg = err.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "missing":
            hint = (hints or {}).get(field)
            parts.append(f"{field}: required" + (f" ({hint})" if hint else ""))
            continue
        if err.get("type") == "extra_forbidden":
            parts.append(f"{field}: unknown parameter")
            continue
        given = err.get("input")
        if isinstance(given, (str, int, float, bool)) and not isinstance(given, dict):
            shown = repr(given) if isinstance(given, str) else str(given)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            parts.append(f"{field}: {msg} (got {shown})")
        else:
            parts.append(f"{field}: {msg}")
    return f"invalid params for {job_type}: " + "; ".join(parts)


# -- the built-in job types' params ------------------------------------------------
class MetaSyncParams(JobParams):
    days_back: int = Field(7, ge=1, le=MAX_DAYS_BACK, description="days of daily insights to sync, ending today")


class AssetDownloadParams(JobParams):
    max_videos: int = Field(20, ge=0, le=500, description="most videos to download this run")
    max_images: int = Field(40, ge=0, le=2000, description="most images to download this run")
    ad_ids: list[str] | None = Field(None, description="only these Meta ad ids (comma-separated)")
    product: str | None = Field(None, max_length=200, description="only ads whose name contains this text")
    include_archived: bool = Field(False, description="also archived ads' media (Meta lists archived ads only "
                                                      "when asked)")

    @field_validator("ad_ids", mode="before")
    @classmethod
    def _split_ids(cls, value):
        if isinstance(value, (int, float)):
            value = str(int(value))
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if isinstance(value, list):
            value = [str(v).strip() for v in value]
            bad = [v for v in value if not v.isdigit()]
            if bad:
                raise ValueError(f"ad ids must be digits, got {bad[0]!r}")
            return value or None
        return value


class CompetitorScrapeParams(JobParams):
    competitor_id: int = Field(..., ge=1, description="the competitor whose ads to scrape")
    ad_library_url: str = Field(..., max_length=2000, description="Ad Library search URL of the competitor")
    max_ads: int = Field(500, ge=1, le=10000, description="stop after this many ads")

    _check_url = field_validator("ad_library_url")(ad_library_url_validator)


class TemplateScrapeParams(JobParams):
    search_url: str = Field(..., max_length=2000, description="Ad Library search URL to take templates from")
    max_ads: int = Field(100, ge=1, le=5000, description="stop after this many ads")

    _check_url = field_validator("search_url")(ad_library_url_validator)
