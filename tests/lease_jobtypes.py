"""Job types for the lease tests, registered only in the workers those tests start
(PIPEDECK_PLUGINS=tests.jobtypes,tests.lease_jobtypes), so other tests' views of the registry
(the app's snapshots list every job type) stay as they are."""

from __future__ import annotations

import os
import time

from pydantic import Field

from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register
from tests.jobtypes import record

class StampParams(JobParams):
    ticks: int = Field(10, ge=1, le=1000)
    every: float = Field(0.2, ge=0, le=60)


def stamp(ctx, params: StampParams):
    """Each tick writes one row through a storage module (an ad named by run, attempt and tick,
    its name the time) and a log line: the data a stalled attempt must not write."""
    from pipedeck.storage import meta

    record(ctx, "start")
    for i in range(params.ticks):
        meta.upsert_ads(ctx.database, ctx.brand["id"], "stamps",
                        [{"ad_id": f"{ctx.run_id}-{ctx.attempt}-{i}", "name": f"{time.time():.6f}"}])
        ctx.log(f"tick {i}")
        ctx.sleep(params.every)
    record(ctx, "end")
    return {"ticks": params.ticks}


class GateParams(JobParams):
    path: str


def gate(ctx, params: GateParams):
    """Runs until the file ``path`` exists: a test decides the moment the handler ends."""
    record(ctx, "start")
    while not os.path.exists(params.path):
        ctx.sleep(0.02)
    record(ctx, "end")
    return {"gated": 1}


register(JobType(key="test_stamp", emoji="⏱", label="Test: stamp ticks", params_model=StampParams, scope="brand",
                 datasets=("test_data",), handler=stamp, max_attempts=3), replace=True)
register(JobType(key="test_gate", emoji="🚧", label="Test: wait for a file", params_model=GateParams, scope="brand",
                 datasets=("test_data",), handler=gate, max_attempts=2), replace=True)
