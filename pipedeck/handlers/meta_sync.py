"""meta_sync: ad-level daily insights from the Meta Graph API."""

from __future__ import annotations

from pydantic import Field

from pipedeck.handlers.params import JobParams

# Meta keeps insights for 37 months.
MAX_DAYS_BACK = 1125


class Params(JobParams):
    days_back: int = Field(7, ge=1, le=MAX_DAYS_BACK, description="days of daily insights to sync, ending today")
