"""Export: a brand's synced insights (`pipedeck export insights`) from a real meta_sync against the
sandbox, and the run export's CSV / JSON writer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from pipedeck.concepts import export
from pipedeck.sandbox import graph_data
from tests.clirunner import invoke, one_line_error
from tests.meta_support import wait_run


def test_export_insights_has_every_synced_row_from_the_date_on(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 5}))
    assert run["status"] == "succeeded", run["error_message"]
    since = (graph_data.today() - dt.timedelta(days=2)).isoformat()
    stored = svc.database.query("SELECT i.*, a.name AS ad_name, a.campaign_name FROM meta_insights i"
                                " JOIN meta_ads a ON a.ad_id = i.ad_id WHERE i.brand_id = ? AND i.date >= ?"
                                " ORDER BY i.date, i.ad_id", (brand["id"], since))
    assert len(stored) == 200 * 3

    result = invoke("export", "insights", "--brand", "Acme", "--since", since, "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["date"], r["ad_id"]) for r in rows] == [(s["date"], s["ad_id"]) for s in stored]
    first, want = rows[0], stored[0]
    assert float(first["spend"]) == want["spend"] and int(first["impressions"]) == want["impressions"]
    assert first["ad_name"] == want["ad_name"] and first["campaign_name"] == want["campaign_name"]
    assert json.loads(first["actions"] or "null") == json.loads(want["actions"] or "null")

    as_json = json.loads(invoke("export", "insights", "--brand", "Acme", "--since", since, "--json").stdout)
    assert len(as_json) == len(stored) and as_json[-1]["ad_id"] == stored[-1]["ad_id"]
    everything = invoke("export", "insights", "--brand", "Acme").stdout.splitlines()
    assert len(everything) == 1 + 200 * 5  # the header and every day synced


def test_export_insights_refuses_bad_input_in_one_line(svc, brand):
    one_line_error(invoke("export", "insights", "--brand", "Nope"))
    assert "YYYY-MM-DD" in one_line_error(invoke("export", "insights", "--brand", "Acme", "--since", "last week"))
    one_line_error(invoke("export", "insights", "--brand", "Acme", "--csv", "--json"))
    empty = invoke("export", "insights", "--brand", "Acme", "--csv")
    assert empty.returncode == 0 and empty.stdout.splitlines()[0].startswith("date,ad_id,ad_name")


def test_the_writer_streams_csv_and_json_with_nested_values_as_json():
    records = [{"id": 1, "params": {"a": 1}, "error": None}, {"id": 2, "params": {}, "error": "x, \"y\""}]
    out = io.StringIO()
    assert export.write(iter(records), out, "csv") == 2
    assert list(csv.DictReader(io.StringIO(out.getvalue()))) == [
        {"id": "1", "params": '{"a": 1}', "error": ""}, {"id": "2", "params": "{}", "error": 'x, "y"'}]
    out = io.StringIO()
    assert export.write(iter(records), out, "json") == 2
    assert json.loads(out.getvalue()) == records
    out = io.StringIO()
    assert export.write(iter([]), out, "json") == 0 and json.loads(out.getvalue()) == []
