"""Graph half of the sandbox: the generated ad accounts, ads, creatives and daily insights.

Everything here is deterministic (same account, ad and day: same numbers), so
tests can compute what the sandbox will answer. The accounts and their ads
are described in :mod:`pipedeck.sandbox.graph`'s docstring.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache

ACCOUNTS: dict[str, tuple[str, int]] = {
    "1001": ("Acme Outdoor", 200),
    "1002": ("Brightside Home", 60),
    "1003": ("Cedar & Co", 25),
    "1004": ("Dormant Test Account", 0),
}
BUSINESS_ID = "880011223344"
USER_ID = "100000000000001"
APP_ID = "1234567890"

AD_BASE = 120_200_000_000_000_000
ADSET_BASE = 120_210_000_000_000_000
CAMPAIGN_BASE = 120_220_000_000_000_000
CREATIVE_BASE = 120_230_000_000_000_000
VIDEO_BASE = 120_240_000_000_000_000
PER_ACCOUNT = 1_000_000

PRODUCTS = ("Trail Runner", "Cloud Hoodie", "Everyday Tote", "Summit Jacket", "Ridge Boot", "Canyon Cap",
            "Harbor Bottle", "Lumen Lamp")
CAMPAIGNS = ("Spring Sale 2026", "Evergreen Prospecting", "Retargeting 30d", "Holiday Gifting", "Brand Awareness")


# -- ids and generated data ---------------------------------------------------
def ad_id(account: str, i: int) -> str:
    return str(AD_BASE + int(account) * PER_ACCOUNT + i)


def video_id(account: str, i: int) -> str:
    return str(VIDEO_BASE + int(account) * PER_ACCOUNT + i)


def decode_id(base: int, object_id: str) -> tuple[str, int] | None:
    if not object_id.isdigit():
        return None
    n = int(object_id) - base
    if n < 0 or n >= 10_000 * PER_ACCOUNT:
        return None
    account, i = str(n // PER_ACCOUNT), n % PER_ACCOUNT
    if account not in ACCOUNTS or i >= ACCOUNTS[account][1]:
        return None
    return account, i


def is_video_ad(i: int) -> bool:
    return i % 10 in (3, 7, 9)


def image_index(i: int) -> int:
    """Ads with ``i % 9 == 4`` reuse the image of the image ad before them."""
    if i % 9 != 4 or i < 1:
        return i
    j = i - 1
    while j > 0 and is_video_ad(j):
        j -= 1
    return j


def video_seed(i: int) -> int:
    """Every twentieth video is a re-upload of the video ten ads earlier (same bytes)."""
    return i - 10 if (i % 20 == 19 and i >= 10) else i


def image_hash(account: str, img: int) -> str:
    return hashlib.md5(f"img:{account}:{img}".encode()).hexdigest()


@lru_cache(maxsize=16)
def hash_index(account: str) -> dict[str, int]:
    n = ACCOUNTS[account][1]
    return {image_hash(account, image_index(i)): image_index(i) for i in range(n) if not is_video_ad(i)}


def uniform(*parts) -> list[float]:
    """Deterministic uniform numbers in [0, 1) from the parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=32).digest()
    return [v / 2 ** 32 for v in struct.unpack("<8I", digest)]


def image_size(account: str, img: int) -> int:
    return 60_000 + int(uniform("isz", account, img)[0] * 540_000)


def image_dims(account: str, img: int) -> tuple[int, int]:
    return ((1080, 1080), (1200, 628), (1080, 1350))[img % 3]


def video_size(state, account: str, i: int) -> int:
    big = state.fault("large_video_bytes")
    if big and i == first_video_index(account):
        return int(big)
    fixed = state.fault("video_bytes")
    if fixed:
        return int(fixed)
    return 1_500_000 + int(uniform("vsz", account, video_seed(i))[0] * 10_500_000)


def first_video_index(account: str) -> int | None:
    n = ACCOUNTS[account][1]
    return next((i for i in range(n) if is_video_ad(i)), None)


def created_date(account: str, i: int) -> dt.date:
    return today() - dt.timedelta(days=100 + (i * 37 + int(account)) % 500)


ACCOUNT_TIMEZONE = "America/Los_Angeles"


def today() -> dt.date:
    """Today in the accounts' time zone: Meta reports days in the ad account's time zone."""
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(ACCOUNT_TIMEZONE)).date()
    except Exception:  # no time zone database: UTC
        return dt.datetime.now(dt.timezone.utc).date()


def ad_name(account: str, i: int) -> str:
    return (f"{CAMPAIGNS[(i // 40) % len(CAMPAIGNS)]} | {PRODUCTS[i % len(PRODUCTS)]} | "
            f"{'Video' if is_video_ad(i) else 'Image'} {i + 1:03d}")


def adset_of(account: str, i: int) -> tuple[str, str]:
    k = i // 8
    return str(ADSET_BASE + int(account) * PER_ACCOUNT + k), f"{CAMPAIGNS[(i // 40) % len(CAMPAIGNS)]} - Ad set {k + 1}"


def campaign_of(account: str, i: int) -> tuple[str, str]:
    k = i // 40
    return str(CAMPAIGN_BASE + int(account) * PER_ACCOUNT + k), CAMPAIGNS[k % len(CAMPAIGNS)]


def ad_status(i: int) -> str:
    if i % 17 == 16:
        return "ARCHIVED"
    if i % 6 == 5:
        return "PAUSED"
    return "ACTIVE"


def fmt_number(x: float, places: int = 6) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def insight_values(account: str, i: int, day: dt.date, revision) -> dict:
    """One ad-day of performance, numbers as strings the way the Graph API sends them."""
    recent = (today() - day).days < 3
    u = uniform("ins", account, i, day.toordinal(), revision if recent else 0)
    budget = 20 + (i * 13) % 180
    weekend = 0.8 if day.weekday() >= 5 else 1.0
    spend = round(budget * (0.6 + 0.8 * u[0]) * weekend, 2)
    cpm = 6 + 14 * u[1]
    impressions = max(1, int(spend / cpm * 1000))
    reach = int(impressions * (0.55 + 0.35 * u[2]))
    ctr = 0.6 + 2.4 * u[3]
    clicks = int(impressions * ctr / 100)
    link_clicks = int(clicks * 0.8)
    landing = int(link_clicks * 0.85)
    carts = int(landing * (0.05 + 0.1 * u[4]))
    purchases = int(carts * (0.2 + 0.3 * u[5]))
    value = round(purchases * (35 + 60 * u[6]), 2)
    out = {
        "spend": fmt_number(spend, 2), "impressions": str(impressions), "reach": str(reach), "clicks": str(clicks),
        "ctr": fmt_number(clicks / impressions * 100), "cpm": fmt_number(spend / impressions * 1000),
        "frequency": fmt_number(impressions / reach if reach else 1), "unique_clicks": str(int(clicks * 0.9)),
        "inline_link_clicks": str(link_clicks),
    }
    if clicks:
        out["cpc"] = fmt_number(spend / clicks)
    actions = [(t, v) for t, v in (("link_click", link_clicks), ("landing_page_view", landing),
                                   ("add_to_cart", carts), ("purchase", purchases),
                                   ("omni_purchase", purchases)) if v]
    if actions:
        out["actions"] = [{"action_type": t, "value": str(v)} for t, v in actions]
        out["cost_per_action_type"] = [{"action_type": t, "value": fmt_number(spend / v)} for t, v in actions]
    if purchases:
        out["action_values"] = [{"action_type": "purchase", "value": fmt_number(value, 2)},
                                {"action_type": "omni_purchase", "value": fmt_number(value, 2)}]
        out["purchase_roas"] = [{"action_type": "omni_purchase", "value": fmt_number(value / spend)}]
    return out


# -- daily insights ------------------------------------------------------------
ADDITIVE = ("spend", "impressions", "reach", "clicks", "unique_clicks", "inline_link_clicks")


@dataclass(frozen=True)
class InsightQuery:
    account: str
    since: dt.date
    until: dt.date
    daily: bool
    fields: tuple[str, ...]
    level: str = "ad"  # or "account": one row per day, the account's totals
    # Days on which no ad delivered: no rows at any level (the no_delivery fault).
    no_delivery: frozenset[dt.date] = frozenset()
    # Days the ad-level answer leaves out although the account delivered (insights_left_out).
    left_out: frozenset[dt.date] = frozenset()

    def delivers(self, day: dt.date) -> bool:
        """Whether this query's rows include ``day`` at all."""
        return day not in self.no_delivery and (self.level == "account" or day not in self.left_out)


@lru_cache(maxsize=8)
def insight_keys(q: InsightQuery) -> list[tuple]:
    """(ad index, day) pairs with delivery, ordered by day then ad; at account level (-1, day)."""
    n = ACCOUNTS[q.account][1]
    starts = [created_date(q.account, i) for i in range(n)]
    if not q.daily:
        if q.level == "account":
            return [(-1, None)] if any(s <= q.until for s in starts) else []
        return [(i, None) for i in range(n) if starts[i] <= q.until]
    keys = []
    day = q.since
    while day <= q.until:
        if q.delivers(day):
            if q.level == "account":
                keys.extend([(-1, day)] if any(s <= day for s in starts) else [])
            else:
                keys.extend((i, day) for i in range(n) if starts[i] <= day)
        day += dt.timedelta(days=1)
    return keys


def _summed(account: str, ads: range | list[int], days: list[dt.date], revision) -> dict:
    totals: dict = {}
    for i in ads:
        start = created_date(account, i)
        for d in days:
            if d < start:
                continue
            for k, v in insight_values(account, i, d, revision).items():
                if k in ADDITIVE:
                    totals[k] = totals.get(k, 0) + float(v)
    return {k: (fmt_number(v, 2) if k == "spend" else str(int(v))) for k, v in totals.items()}


def insight_row(state, q: InsightQuery, key: tuple) -> dict:
    i, day = key
    account = q.account
    revision = state.fault("insights_revision") or 0
    if day is not None:
        start, stop = day, day
        if i < 0:  # the account's day: every ad that delivered
            values = _summed(account, range(ACCOUNTS[account][1]), [day], revision)
        else:
            values = insight_values(account, i, day, revision)
    else:  # all_days: sum the daily rows
        start = max(q.since, created_date(account, max(i, 0))) if i >= 0 else q.since
        stop = q.until
        days = [start + dt.timedelta(days=k) for k in range((stop - start).days + 1)]
        days = [d for d in days if q.delivers(d)]
        values = _summed(account, range(ACCOUNTS[account][1]) if i < 0 else [i], days, revision)
    ids = {"account_id": account, "account_name": ACCOUNTS[account][0]}
    if i >= 0:
        adset, adset_name = adset_of(account, i)
        campaign, campaign_name = campaign_of(account, i)
        ids.update({"ad_id": ad_id(account, i), "ad_name": ad_name(account, i), "adset_id": adset,
                    "adset_name": adset_name, "campaign_id": campaign, "campaign_name": campaign_name,
                    "objective": "OUTCOME_SALES"})
    row = {}
    for f in q.fields:
        if f in ids:
            row[f] = ids[f]
        elif f in values:
            row[f] = values[f]
    row["date_start"], row["date_stop"] = start.isoformat(), stop.isoformat()
    return row
