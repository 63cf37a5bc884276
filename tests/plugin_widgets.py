"""A job-type plugin as a site would write one: its own dataset and screen key, nothing else.

Loaded with PIPEDECK_PLUGINS=tests.plugin_widgets (tests/test_plugin.py checks that it then
shows up everywhere a built-in job type does, and that a real worker runs it).
"""

from __future__ import annotations

from pydantic import Field

from pipedeck.concepts.datasets import Dataset, Policy
from pipedeck.concepts.durations import HOUR
from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register, register_dataset


class CountParams(JobParams):
    widgets: int = Field(4, ge=1, le=50, description="how many widgets to count")


def count_widgets(ctx, params: CountParams):
    for i in range(params.widgets):
        ctx.progress(i + 1, params.widgets, f"widget {i + 1}")
    ctx.log(f"counted {params.widgets} widgets")
    return {"widgets": params.widgets}


register_dataset(Dataset("widget_counts", "Widgets", Policy(3 * HOUR, 9 * HOUR)), replace=True)
register(JobType(key="widget_count", emoji="🧮", label="Count widgets", params_model=CountParams, scope="brand",
                 datasets=("widget_counts",), handler=count_widgets, screen_key="g", short_label="Widgets"),
         replace=True)
