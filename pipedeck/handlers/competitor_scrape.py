"""competitor_scrape: a competitor's ads from the Ad Library, through headless Chromium."""

from __future__ import annotations

from pydantic import Field, field_validator

from pipedeck.handlers.params import JobParams, ad_library_url_validator


class Params(JobParams):
    competitor_id: int = Field(..., ge=1, description="the competitor whose ads to scrape")
    ad_library_url: str = Field(..., max_length=2000, description="Ad Library search URL of the competitor")
    max_ads: int = Field(500, ge=1, le=10000, description="stop after this many ads")

    _check_url = field_validator("ad_library_url")(ad_library_url_validator)
