"""What the CLI prints: nothing from outside reaches the terminal raw (issue 10 point 9), tables
that fit the terminal, live progress, schedules in local time (issue 13, "The CLI")."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.clirunner import invoke, plain
from tests.helpers import outside_write, wait_for

TITLE = "\x1b]0;pwned\x07"          # OSC 0: retitle the terminal
CLIPBOARD = "\x1b]52;c;cm0gLXJm\x07"  # OSC 52: write the clipboard
COLOUR = "\x1b[31m"                  # CSI: red from here on
C1_CSI = "\x9b2J"                    # the 8-bit CSI: clear the screen
OSC = re.compile("\x1b\\]|\x07|\x9b")
# The injected colour, with what follows it in the data: rich's own colour codes are never followed by these.
INJECTED = [COLOUR + "red", COLOUR + " field"]


def raw_escapes(text: str) -> list[str]:
    """Sequences pipedeck did not write itself: any OSC, BEL or C1 CSI (rich writes none), the injected CSI."""
    return OSC.findall(text) + [s for s in INJECTED if s in text]


@pytest.fixture
def seeded(home):
    assert invoke("brands", "add", "Acme", "--meta-ad-account", "1001", "--ad-library-page-id", "5001").returncode == 0
    assert invoke("competitors", "add", "Rival", "--brand", "Acme", "--ad-library-url",
                  "https://www.facebook.com/ads/library/?view_all_page_id=77").returncode == 0
    return home


def scraped_templates(svc):
    from pipedeck.storage.adlibrary import upsert_templates

    ads = [{"ad_archive_id": "9001", "page_name": f"Page{TITLE}", "body": f"Buy now{TITLE} {CLIPBOARD}{COLOUR}red",
            "title": "t", "cta_text": f"Shop{C1_CSI}", "display_format": "IMAGE"},
           {"ad_archive_id": "9002", "page_name": "Plain", "body": "plain text"}]
    upsert_templates(svc.database, svc.brand("Acme")["id"], ads, search_url="https://www.facebook.com/ads/library/")


@pytest.mark.parametrize("terminal", [None, 120], ids=["piped", "terminal"])
def test_templates_with_escape_sequences_in_scraped_text_are_shown_not_obeyed(seeded, svc, terminal):
    scraped_templates(svc)
    result = invoke("templates", terminal=terminal)
    assert result.returncode == 0, result.stderr
    assert raw_escapes(result.stdout) == []
    text = plain(result.stdout)
    assert "Page␛]0;pwned␇" in text and "Buy now␛]0;pwned␇ ␛]52;c;cm0gLXJm␇␛[31mred"[:40] in text
    assert "plain text" in text


def test_json_and_csv_escape_what_a_terminal_would_obey(seeded, svc):
    scraped_templates(svc)
    out = invoke("templates", "--json").stdout
    assert raw_escapes(out) == [] and "\x1b" not in out and "\\u009b" in out
    assert json.loads(out)[0]["body"] == f"Buy now{TITLE} {CLIPBOARD}{COLOUR}red"  # the data itself is intact
    assert raw_escapes(invoke("templates", "--csv").stdout) == []


def test_names_runs_errors_and_log_lines_from_outside_are_shown_not_obeyed(seeded, svc):
    """Data that got in before names were checked, or from Meta: every listing renders it visibly."""
    run_id = svc.queue_one_time_job("Acme", "test_echo", {}, direct=True)
    with svc.database.write() as tx:  # as another program (or an older pipedeck) could have written it
        conn = tx.conn
        conn.execute("UPDATE brands SET name = ? WHERE name = 'Acme'", (f"Acme{TITLE}",))
        conn.execute("UPDATE competitors SET name = ?", (f"Rival{CLIPBOARD}",))
        conn.execute("UPDATE runs SET status = 'failed', error_type = 'MetaError', error_message = ?, summary = ?"
                     " WHERE id = ?", (f"(#100) bad{COLOUR} field{TITLE}", f"done{C1_CSI}", run_id))
        conn.execute("INSERT INTO run_logs (run_id, attempt, ts, level, message) VALUES (?, 1, ?, 'info', ?)",
                     (run_id, time.time(), f"page said {CLIPBOARD}"))
    for args in (["brands"], ["competitors"], ["runs"], ["runs", "show", str(run_id)], ["freshness"],
                 ["runs", "--json"], ["status"], ["schedules"]):
        for terminal in (None, 100):
            result = invoke(*args, terminal=terminal)
            assert result.returncode == 0, (args, result.stderr)
            assert raw_escapes(result.stdout + result.stderr) == [], (args, terminal)
    shown = plain(invoke("runs", "show", str(run_id)).stdout)
    assert "error: MetaError: (#100) bad␛[31m field␛]0;pwned␇" in shown and "page said ␛]52;c;cm0gLXJm␇" in shown
    line = invoke("queue", "test_echo", "--brand", "Ghost").stderr
    assert "Acme␛]0;pwned␇" in line and raw_escapes(line) == []  # the error's list of known brands too


def long_runs(svc, n=6):
    brand = "Acme Outdoor Gear International Holdings"
    svc.add_brand(brand, "1002")
    svc.add_competitor(brand, "Summit Gear and Trailhead Company", "https://www.facebook.com/ads/library/?view_all_page_id=88")
    ids = []
    for i in range(n):
        if i % 2:
            ids.append(svc.queue_one_time_job(brand, "competitor_scrape", {}, competitor="Summit Gear and Trailhead Company",
                                              direct=True))
        else:
            ids.append(svc.queue_one_time_job(brand, "test_echo", {"lines": 2}, direct=True))
    outside_write(svc, "UPDATE runs SET summary = ?", ("captured 208 of 208 ads (Meta's count 208); " * 4,))
    return ids


@pytest.mark.parametrize("width", [80, 120])
def test_runs_fit_the_terminal_without_wrapping_and_the_summary_takes_what_is_left(seeded, svc, width):
    ids = long_runs(svc)
    lines = plain(invoke("runs", terminal=width).stdout).rstrip("\n").splitlines()
    assert len(lines) == 1 + len(ids)  # a header and one line per run: nothing wrapped
    assert all(len(line) <= width for line in lines), [len(line) for line in lines]
    header = lines[0].split()
    assert header[:4] == ["ID", "STATUS", "TYPE", "BRAND"] and header[-1] == "SUMMARY"
    summary_at = lines[0].index("SUMMARY")
    for line in lines[1:]:
        assert line[summary_at:].startswith("captured 2") and line.rstrip().endswith("…")
    assert width - summary_at >= 20  # the summary is not squeezed to nothing
    if width == 120:
        assert "COMPETITOR" in header and "TRIES" in header


def test_runs_piped_are_plain_text_with_every_column(seeded, svc):
    long_runs(svc, 2)
    out = invoke("runs").stdout
    assert "\x1b" not in out
    assert out.splitlines()[0].split() == ["ID", "STATUS", "TYPE", "BRAND", "COMPETITOR", "TRIES", "CREATED", "TOOK",
                                           "SUMMARY"]


def test_queue_direct_shows_a_progress_bar_with_n_of_m_and_the_latest_line_on_a_terminal(seeded):
    result = invoke("queue", "test_echo", "--brand", "Acme", "--set", "lines=3", "--set", "pause=0.3", "--direct",
                    terminal=100)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()  # stdout keeps just the run id
    run_id = result.stdout.strip()
    frames = [f.strip() for f in re.split(r"[\r\n]", plain(result.stderr)) if f.strip()]
    bars = [f for f in frames if "━" in f]
    printed = [f for f in frames if "━" not in f]
    assert "echo line 3 of 3" in " ".join(printed) and printed[-1] == f"run {run_id} succeeded" + printed[-1].split(
        "succeeded")[1]
    assert re.fullmatch(rf"run {run_id} ━+ 3 of 3 " + re.escape(printed[-1].removeprefix(f"run {run_id} ")), bars[-1])
    assert any(re.search(r"━ [12] of 3 \[info\] echo line [12] of 3", b) for b in bars)  # counted as it went
    piped = invoke("queue", "test_echo", "--brand", "Acme", "--set", "lines=3", "--direct")
    assert "━" not in piped.stderr and "echo line 3 of 3" in piped.stderr


def test_runs_show_follow_shows_progress_on_a_terminal(seeded, worker_factory):
    worker_factory()
    run_id = invoke("queue", "test_echo", "--brand", "Acme", "--set", "lines=4", "--set", "pause=0.3").stdout.strip()
    result = invoke("runs", "show", run_id, "--follow", terminal=100)
    assert result.returncode == 0, result.stderr
    text = plain(result.stdout)
    assert "━" in text and "4 of 4" in text and f"run {run_id} succeeded" in text
    assert text.count("echo line 4 of 4") >= 1


def test_schedules_show_next_occurrence_in_local_time_and_relative_json_stays_utc(seeded, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        added = invoke("schedules", "add", "test_echo", "--brand", "Acme", "--cron", "0 7 * * *", "--tz", "UTC")
        assert added.returncode == 0, added.stderr
        row = json.loads(invoke("schedules", "--json").stdout)[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT07:00:00Z", row["next_run_at"])
        date = row["next_run_at"][:10]
        text = invoke("schedules", "--json").stdout
        assert "IST" not in text
        listed = plain(invoke("schedules", terminal=200).stdout)
        assert f"{date} 12:30 IST (in " in listed
        assert re.search(r"12:30 IST \(in \d+ (h|min|s)\)", added.stderr)
        assert "12:30 IST (in " in invoke("schedules").stdout
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_runs_help_lists_its_actions(home):
    text = invoke("runs", "--help", env={"COLUMNS": "100"}).stdout
    commands = text[text.index("Commands"):]
    assert [w for w in ("show", "retry", "cancel") if re.search(rf"│ {w}\s", commands)] == ["show", "retry", "cancel"]


def test_a_workers_lines_show_outside_text_not_obey_it(seeded, svc, worker_factory):
    outside_write(svc, "UPDATE brands SET name = ? WHERE name = 'Acme'", (f"Acme{TITLE}",))
    run_id = svc.queue_one_time_job(f"Acme{TITLE}", "test_echo", {"lines": 1})
    worker = worker_factory()
    wait_for(lambda: svc.run(run_id)["status"] == "succeeded", 20)
    wait_for(lambda: f"run {run_id} succeeded" in worker.output(), 10)
    out = worker.output()
    assert "brand=Acme␛]0;pwned␇" in out and raw_escapes(out) == []
