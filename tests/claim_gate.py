"""Loaded only in the workers of tests/test_worker_shutdown.py (PIPEDECK_PLUGINS): a consumer thread that
has claimed a run waits, before its handler starts, until the file PIPEDECK_TEST_CLAIM_GATE exists (the
brand read between the claim and the handler waits for it; the real read follows). It stands for a busy
machine's thread switch at that moment, made to last."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipedeck.storage.catalog import Catalog

_brand = Catalog.brand


def _brand_after_the_gate(self, ref):
    gate = os.environ.get("PIPEDECK_TEST_CLAIM_GATE")
    if gate:
        Path(gate + ".waiting").touch()
        while not Path(gate).exists():
            time.sleep(0.01)
    return _brand(self, ref)


Catalog.brand = _brand_after_the_gate
