"""template_scrape: Ad Library ads into the template review queue."""

from __future__ import annotations

from pydantic import Field, field_validator

from pipedeck.handlers.params import JobParams, ad_library_url_validator


class Params(JobParams):
    search_url: str = Field(..., max_length=2000, description="Ad Library search URL to take templates from")
    max_ads: int = Field(100, ge=1, le=5000, description="stop after this many ads")

    _check_url = field_validator("search_url")(ad_library_url_validator)
