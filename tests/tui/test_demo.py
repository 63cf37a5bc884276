"""`pipedeck demo` pieces: a separate data dir, idempotent seeding, competitor URLs following the sandbox."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipedeck import demo
from pipedeck.config import load_settings
from pipedeck.errors import UserError
from pipedeck.queue.service import Service


def test_demo_home_is_next_to_the_data_dir_never_the_data_dir(home, tmp_path):
    assert demo.demo_home(None) == home.with_name(home.name + "-demo")
    with pytest.raises(UserError, match="must not be your data dir"):
        demo._check_separate(home)
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / "pipedeck.db").write_text("x")
    with pytest.raises(UserError, match="not a pipedeck demo"):
        demo._check_separate(other)
    with pytest.raises(UserError, match="refusing to delete"):
        demo.reset(other)
    assert (other / "pipedeck.db").exists()


def test_seed_is_idempotent_and_moves_competitors_to_the_new_sandbox_origin(tmp_path, monkeypatch):
    home = tmp_path / "demo"
    env = {"PIPEDECK_HOME": str(home), "PIPEDECK_AD_LIBRARY_URL": "http://127.0.0.1:4001"}
    first = demo.seed(load_settings(env), first_jobs=False)
    assert first == {"brands": 3, "competitors": 5, "runs": 0, "schedules": len(demo.DEMO_SCHEDULES)}
    env["PIPEDECK_AD_LIBRARY_URL"] = "http://127.0.0.1:4002"  # the sandbox came back on another port
    again = demo.seed(load_settings(env), first_jobs=False)
    assert again == {"brands": 0, "competitors": 0, "runs": 0, "schedules": 0}
    svc = Service(load_settings(env))
    try:
        brands = svc.catalog.brands()
        assert [(b["name"], b["meta_ad_account_id"]) for b in brands] == [
            ("Acme Outdoor", "1001"), ("Bloom Skincare", "1002"), ("Cobalt Coffee", "1003")]
        assert all(b["ad_library_page_id"].isdigit() for b in brands)
        urls = [c["ad_library_url"] for c in svc.catalog.competitors()]
        assert len(urls) == 5 and all(u.startswith("http://127.0.0.1:4002/ads/library/?") for u in urls)
        assert all("view_all_page_id=" in u for u in urls)
        # The sandbox reads a page id's last four digits as its number of ads: every page has real content.
        page_ids = [b["ad_library_page_id"] for b in brands] + [u.split("view_all_page_id=")[1].split("&")[0]
                                                                 for u in urls]
        assert all(int(p[-4:]) >= 50 for p in page_ids), page_ids
        schedules = svc.schedules()
        assert len(schedules) == len(demo.DEMO_SCHEDULES) and all(s["active"] and s["next_run_at"] for s in schedules)
        assert {s["competitor"] for s in schedules if s["job_type"] == "competitor_scrape"} == {"Summit Gear"}
    finally:
        svc.close()


def test_demo_no_tui_refuses_the_real_data_dir(home):
    with pytest.raises(UserError, match="must not be your data dir"):
        demo.run_demo(SimpleNamespace(home=str(home), reset=False, no_tui=True))
