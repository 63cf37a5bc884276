"""Listing runs, freshness and workers must not import the handlers or their HTTP and browser libraries.

`pipedeck runs`, `status` and `freshness` start in a fresh process each time, so
what the service imports is most of their start-up. Only a run that executes (or
a form that needs a params model) should import a handler.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO

LIGHT_HANDLER_MODULES = {"pipedeck.handlers", "pipedeck.handlers.registry", "pipedeck.handlers.params"}

LISTING = """
import json, sys
from pipedeck.config import load_settings
from pipedeck.queue.service import Service

svc = Service(load_settings())
runs = svc.list_runs()
rows = svc.freshness()
svc.worker_health()
svc.queue_depth()
print(json.dumps({"runs": len(runs), "freshness": len(rows), "modules": sorted(sys.modules)}))
"""


def test_listing_runs_imports_no_handler_httpx_or_playwright(svc, brand, env):
    for job_type, params in (("meta_sync", {}), ("asset_download", {"max_images": 3}), ("template_scrape", {})):
        svc.queue_one_time_job("Acme", job_type, params, direct=True)
    child_env = {k: v for k, v in env.items() if k != "PIPEDECK_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", LISTING], env=child_env, cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["runs"] == 3 and seen["freshness"] == 3  # the brand's three datasets
    modules = set(seen["modules"])
    heavy = sorted(m for m in modules if m.split(".")[0] in ("httpx", "httpcore", "playwright"))
    assert heavy == []
    handlers = sorted(m for m in modules if m.startswith("pipedeck.handlers") and m not in LIGHT_HANDLER_MODULES)
    assert handlers == []
