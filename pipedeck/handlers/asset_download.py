"""asset_download: ad images and videos from Meta, stored content-addressed."""

from __future__ import annotations

from pydantic import Field, field_validator

from pipedeck.handlers.params import JobParams


class Params(JobParams):
    max_videos: int = Field(20, ge=0, le=500, description="most videos to download this run")
    max_images: int = Field(40, ge=0, le=2000, description="most images to download this run")
    ad_ids: list[str] | None = Field(None, description="only these Meta ad ids (comma-separated)")
    product: str | None = Field(None, max_length=200, description="only ads whose name contains this text")

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
