"""Shared pieces of the params models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo

from pipedeck.urls import validate_ad_library_url


class JobParams(BaseModel):
    """Base of every job's params: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
