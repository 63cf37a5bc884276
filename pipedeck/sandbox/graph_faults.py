"""Graph half of the sandbox: fault and throttle state.

Faults are switched on through :class:`pipedeck.sandbox.server.SandboxState`
(``--fault`` or ``POST /__sandbox/faults``); these helpers consume counted
faults, pick the files a per-file fault hits, and keep the Graph half's own
state (asynchronous reports, account usage, trace ids) under ``state.data``.
Usage climbs with ``usage_climb`` and decays over time; every Graph answer
carries the throttle headers built from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time

from pipedeck.sandbox.graph_data import BUSINESS_ID


def expire_link(state, path: str) -> bool:
    """The ``media_expired`` fault: the links of N different files have expired.

    Each such file answers 403 to its first request; fetched again (with the
    fresh link a client asks the Graph API for), it is served. Counting files,
    not requests, keeps the fault deterministic with concurrent downloads: a
    refreshed link can never take the second of two faults meant for two files.
    """
    with state.lock:
        done = state.data.setdefault("cdn:expired_paths", set())
        if path in done or not take(state, "media_expired"):
            return False
        done.add(path)
        return True


def link_is_dead(state, link: tuple) -> bool:
    with state.lock:
        return link in state.data.get("cdn:dead_links", ())


def file_fault(state, name: str, path: str, default_tries: int | None = None) -> bool:
    """A fault that picks files, not requests: ``name=N`` affects the first N files requested
    (``true``: every file), each for its first ``<name>_tries`` requests (default
    ``default_tries``; None: every request). Deterministic with concurrent downloads."""
    with state.lock:
        value = state.faults.get(name)
        if value is None or value is False or value == 0:
            return False
        tries = state.faults.get(f"{name}_tries", default_tries)
        hits = state.data.setdefault(f"cdn:{name}", {})
        if path not in hits:
            if value is not True and len(hits) >= int(value):
                return False
            hits[path] = 0
        if tries is not None and hits[path] >= int(tries):
            return False
        hits[path] += 1
        return True


def take(state, name: str) -> bool:
    """Consume one unit of a counted fault: N (next N requests) or true (always)."""
    with state.lock:
        value = state.faults.get(name)
        if value is None or value is False or value == 0:
            return False
        if value is True or not isinstance(value, (int, float)):
            return True
        if value <= 1:
            state.faults.pop(name, None)
        else:
            state.faults[name] = value - 1
        return True


def graph_state(state) -> dict:
    with state.lock:
        return state.data.setdefault("graph", {"reports": {}, "usage": {}, "next_report": 0, "trace": 0})


def trace_id(state) -> str:
    with state.lock:
        g = graph_state(state)
        g["trace"] += 1
        n = g["trace"]
    return "A" + base64.b64encode(hashlib.sha1(f"trace{n}".encode()).digest()).decode()[:22]


# -- usage and throttle headers ----------------------------------------------------
def usage(state, account: str | None, climb: bool = True) -> float:
    """The account's usage in percent after this call (climbs with ``usage_climb``, decays over time)."""
    step = float(state.fault("usage_climb") or 0)
    decay = float(state.fault("usage_decay") or 25)
    key = account or "app"
    now = time.monotonic()
    with state.lock:
        used = graph_state(state)["usage"]
        value, last = used.get(key, (0.0, now))
        value = max(0.0, value - decay * (now - last))
        if climb:
            value = min(100.0, value + step)
        used[key] = (value, now)
    return value


def throttle_headers(state, account: str | None, util: float, regain: int = 0) -> dict[str, str]:
    base = 1.0 + (int(account) % 7 if account else 0) * 0.37
    pct = max(util, base)
    buc = {BUSINESS_ID: [{"type": "ads_insights", "call_count": int(pct), "total_cputime": int(pct * 0.6),
                          "total_time": int(pct * 0.8), "estimated_time_to_regain_access": regain,
                          "ads_api_access_tier": "standard_access"},
                         {"type": "ads_management", "call_count": int(pct * 0.5), "total_cputime": int(pct * 0.3),
                          "total_time": int(pct * 0.4), "estimated_time_to_regain_access": regain,
                          "ads_api_access_tier": "standard_access"}]}
    return {
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
        "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": round(pct, 2),
                                          "reset_time_duration": int(math.ceil(pct / 25.0 * 60)) if util else 0,
                                          "ads_api_access_tier": "standard_access"}, separators=(",", ":")),
        "X-FB-Ads-Insights-Throttle": json.dumps({"app_id_util_pct": round(pct * 0.5, 2),
                                                  "acc_id_util_pct": round(pct, 2),
                                                  "ads_api_access_tier": "standard_access"}, separators=(",", ":")),
        "X-App-Usage": json.dumps({"call_count": int(pct * 0.3), "total_cputime": int(pct * 0.2),
                                   "total_time": int(pct * 0.25)}, separators=(",", ":")),
        "x-fb-rev": "1012345678",
        "Cache-Control": "private, no-cache, no-store, must-revalidate",
    }
