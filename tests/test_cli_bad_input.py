"""Every verb's bad input: exit non-zero, one line on stderr (``pipedeck: ...``), nothing written.

Issue 10 point 5 and issue 12's acceptance: every verb, in-process through CliRunner.
``test_every_verb_has_a_bad_input_case`` walks the command tree, so a new verb without a
case here fails the suite.
"""

from __future__ import annotations


import click
import pytest

from pipedeck.cli import cli
from tests.clirunner import invoke, one_line_error
from tests.helpers import db_digest

HUGE = str(2**70)
LONG = "A" * 10_000
GOOD_URL = "https://www.facebook.com/ads/library/?view_all_page_id=77"

# (argv, what the line must say). The first words that name a command say which verb a case covers.
BAD_INPUT = [
    (["--bogus"], "no such option '--bogus'"),
    (["rnus"], "did you mean 'runs'"),
    (["nosuch"], "no such command 'nosuch'"),
    (["tui", "extra"], "unexpected extra argument"),
    # brands
    (["brands", "--bogus"], "brands: no such option"),
    (["brands", "list", "--json", "--csv"], "--json and --csv exclude each other"),
    (["brands", "add", "Acme"], "already exists"),
    (["brands", "add", "X", "--meta-ad-account", "abc"], "must be digits"),
    (["brands", "add", "Evil\x1b]0;pwned\x07"], "must not contain control characters (found ␛ ␇)"),
    (["brands", "add", "Clip\x1b]52;c;aGk=\x07"], "must not contain control characters"),
    (["brands", "add", ""], "must not be empty"),
    (["brands", "add", LONG], "longer than 100 characters"),
    (["brands", "edit", "Ghost", "--name", "X"], "unknown brand 'Ghost'"),
    (["brands", "edit", "Acme"], "nothing to change"),
    (["brands", "edit", "Acme", "--name", "Red\x1b[31m"], "must not contain control characters"),
    (["brands", "edit", HUGE, "--name", "X"], f"unknown brand '{HUGE}'"),
    # competitors
    (["competitors", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["competitors", "list", "--brand", HUGE], f"unknown brand '{HUGE}'"),
    (["competitors", "add", "Y", "--brand", "Acme", "--ad-library-url", "https://evil.example/ads/library/?q=x"],
     "not on the Ad Library origin"),
    (["competitors", "add", "Y\x1b[2J", "--brand", "Acme", "--ad-library-url", GOOD_URL], "control characters"),
    (["competitors", "add", "Y", "--brand", "Acme"], "missing option '--ad-library-url'"),
    (["competitors", "edit", "Ghost", "--name", "Z"], "unknown competitor 'Ghost'"),
    (["competitors", "edit", "Rival"], "nothing to change"),
    # queue
    (["queue"], "missing argument 'JOB_TYPE'"),
    (["queue", "test_echo"], "missing option '--brand'"),
    (["queue", "nope", "--brand", "Acme"], "unknown job type 'nope'"),
    (["queue", "test_echo", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["queue", "test_echo", "--brand", HUGE], f"unknown brand '{HUGE}'"),
    (["queue", "test_echo", "--brand", "²"], "unknown brand '²'"),
    (["queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Ghost"], "unknown competitor 'Ghost'"),
    (["queue", "competitor_scrape", "--brand", "Acme", "--competitor", HUGE], f"unknown competitor '{HUGE}'"),
    (["queue", "competitor_scrape", "--brand", "Acme", "--set", f"competitor_id={HUGE}"], "competitor"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_images=100000"], "max_images"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_videos=many"], "max_videos"),
    (["queue", "asset_download", "--brand", "Acme", "--set", f"max_videos={HUGE}"], "max_videos"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "colour=red"], "colour: unknown parameter"),
    (["queue", "template_scrape", "--brand", "NoAccount"], "search_url: required"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "max_images"], "malformed --set"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "=3"], "malformed --set"),
    (["queue", "asset_download", "--brand", "Acme", "--set", "ad_ids=[1,"], "not valid JSON"),
    (["queue", "competitor_scrape", "--brand", "Acme"], "competitor job"),
    (["queue", "meta_sync", "--brand", "NoAccount"], "Meta ad account id"),
    (["queue", "test_echo", "--brand", "Acme", "--competitor", "Rival"], "takes no competitor"),
    # runs
    (["runs", "--status", "weird"], "unknown status"),
    (["runs", "--limit", HUGE], "--limit': must be a whole number from 1 to 10000"),
    (["runs", "--limit", "0"], "must be a whole number from 1 to 10000, got '0'"),
    (["runs", "--limit", "-3"], "must be a whole number"),
    (["runs", "--brand", HUGE], f"unknown brand '{HUGE}'"),
    (["runs", "--type", "nope"], "unknown job type 'nope'"),
    (["runs", "--competitor", "Ghost"], "unknown competitor 'Ghost'"),
    (["runs", "show", "999"], "unknown run 999"),
    (["runs", "show", HUGE], f"'{HUGE}' is not a run id"),
    (["runs", "show", "abc"], "'abc' is not a run id"),
    (["runs", "show"], "missing argument 'RUN_ID'"),
    (["runs", "retry", HUGE], "is not a run id"),
    (["runs", "retry", "999"], "unknown run 999"),
    (["runs", "retry", "0"], "'0' is not a run id"),
    (["runs", "cancel", HUGE], "is not a run id"),
    (["runs", "cancel", "999"], "unknown run 999"),
    # schedules
    (["schedules", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["schedules", "list", "--competitor", "Ghost"], "unknown competitor 'Ghost'"),
    (["schedules", "add", "test_echo", "--brand", "Acme", "--cron", "* * * * * *"], "Wrong number of fields (6)"),
    (["schedules", "add", "test_echo", "--brand", "Acme", "--cron", "@daily"], "write @daily as '0 0 * * *'"),
    (["schedules", "add", "test_echo", "--brand", "Acme", "--cron", "61 * * * *"], "Bad minute"),
    (["schedules", "add", "test_echo", "--brand", "Acme", "--cron", "0 7 * * *", "--tz", "Mars/Base"],
     "unknown time zone"),
    (["schedules", "add", "test_echo", "--brand", "Acme", "--cron", "0 7 * * *", "--missed", "sometimes"],
     "unknown missed-run policy"),
    (["schedules", "add", "test_echo", "--brand", "Acme"], "missing option '--cron'"),
    (["schedules", "pause", HUGE], "is not a schedule id"),
    (["schedules", "pause", "999"], "unknown schedule 999"),
    (["schedules", "resume", "999"], "unknown schedule 999"),
    (["schedules", "edit", "999", "--cron", "0 8 * * *"], "unknown schedule 999"),
    (["schedules", "edit", "1"], "nothing to change"),
    (["schedules", "remove", HUGE], "is not a schedule id"),
    (["schedules", "remove", "999"], "unknown schedule 999"),
    (["schedules", "history", "999"], "unknown schedule 999"),
    (["schedules", "history", "1", "--limit", HUGE], "must be a whole number from 1 to 10000"),
    # freshness
    (["freshness", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["freshness", "policy", "--bogus"], "freshness policy: no such option"),
    (["freshness", "policy", "list", "--json", "--csv"], "exclude each other"),
    (["freshness", "policy", "set", "nope", "--warn", "1h", "--stale", "2h"], "nope"),
    (["freshness", "policy", "set", "test_data", "--warn", "1x", "--stale", "2h"], "not a duration: '1x'"),
    (["freshness", "policy", "set", "test_data", "--warn", "3h", "--stale", "2h"], "0 < warn-after < stale-after"),
    (["freshness", "policy", "set", "test_data", "--warn", "1h", "--stale", "2h", "--brand", "Ghost"],
     "unknown brand 'Ghost'"),
    (["freshness", "policy", "clear", "test_data"], "no stored policy for test_data"),
    # templates
    (["templates", "--status", "weird"], "'weird' is not one of"),
    (["templates", "list", "--limit", "0"], "must be a whole number from 1 to 10000"),
    (["templates", "approve", HUGE], "is not a template id"),
    (["templates", "approve", "999"], "no template with id 999; nothing was changed"),
    (["templates", "approve"], "missing argument"),
    (["templates", "reject", "abc"], "'abc' is not a template id"),
    # token
    (["token", "--bogus"], "token: no such option"),
    (["token", "status", "extra"], "unexpected extra argument"),
    (["token", "set"], "no token given on standard input"),
    # jobs and processes
    (["job-types", "--bogus"], "job-types: no such option"),
    (["status", "--bogus"], "status: no such option"),
    (["worker", "--threads", "0"], "must be a whole number from 1 to 64, got '0'"),
    (["worker", "run", "--threads", "-1"], "must be a whole number from 1 to 64, got '-1'"),
    (["worker", "install", "--bogus"], "no such option"),
    (["alerts", "--limit", "0"], "must be a whole number from 1 to 10000, got '0'"),
    (["alerts", "test"], "PIPEDECK_ALERT_URLS is not set"),
    (["alerts", "check", "--bogus"], "no such option"),
    # export
    (["export", "insights"], "missing option '--brand'"),
    (["export", "insights", "--brand", "Ghost"], "unknown brand 'Ghost'"),
    (["export", "insights", "--brand", "Acme", "--since", "yesterday"], "--since must be a date as YYYY-MM-DD"),
    (["export", "insights", "--brand", "Acme", "--json", "--csv"], "--json and --csv exclude each other"),
    (["worker", "uninstall", "--bogus"], "no such option"),
    (["worker", "--threads", HUGE], "must be a whole number from 1 to 64"),
    (["worker", "--grace", "nan"], "must be a number of seconds from 0 to 3600, got 'nan'"),
    (["worker", "--grace", "1e309"], "must be a number of seconds"),
    (["sandbox", "--port", "99999"], "must be a whole number from 0 to 65535, got '99999'"),
    (["sandbox", "--port", "http"], "must be a whole number from 0 to 65535"),
    (["demo", "--bogus"], "demo: no such option"),
    (["db", "--bogus"], "db: no such option"),
    (["db", "status", "--bogus"], "db status: no such option"),
    (["db", "copy"], "db copy: missing option '--to'"),
    (["db", "copy", "--to", "mysql://u:hunter2@db/x"], "the scheme must be sqlite:/// or postgresql://"),
    (["db", "copy", "--to", "postgresql://u:hunter2@/x"], "names its host"),
]


@pytest.fixture
def seeded(home):
    assert invoke("brands", "add", "Acme", "--meta-ad-account", "act_1001", "--ad-library-page-id", "5001").returncode == 0
    assert invoke("brands", "add", "NoAccount").returncode == 0
    assert invoke("competitors", "add", "Rival", "--brand", "Acme", "--ad-library-url", GOOD_URL).returncode == 0
    assert invoke("schedules", "add", "test_echo", "--brand", "Acme", "--cron", "0 7 * * *").returncode == 0
    return home


@pytest.mark.parametrize("args,expected", BAD_INPUT, ids=[" ".join(a[:4])[:60] for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_writes_nothing(seeded, args, expected):
    before = db_digest(seeded)
    line = one_line_error(invoke(*args, input=""))
    assert expected in line
    assert len(line) < 500  # a 10 kB value is not echoed back whole
    assert "\x1b" not in line and "\x07" not in line
    assert db_digest(seeded) == before


def command_paths(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths = set()
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = prefix + (name,)
        paths.add(path)
        if isinstance(command, click.Group):
            paths |= command_paths(command, ctx, path)
    return paths


def test_every_verb_has_a_bad_input_case():
    verbs = command_paths(cli, click.Context(cli))
    assert len(verbs) > 30
    covered = set()
    for args, _ in BAD_INPUT:
        words = tuple(a for a in args if not a.startswith("-"))
        covered |= {words[:n] for n in range(1, len(words) + 1)} & verbs
    assert sorted(verbs - covered) == []


def test_a_ten_kilobyte_value_comes_back_cut(seeded):
    for args in (["queue", "test_echo", "--brand", LONG], ["runs", "--limit", LONG], ["runs", "show", LONG],
                 ["schedules", "add", "test_echo", "--brand", "Acme", "--cron", LONG],
                 ["queue", "test_echo", "--brand", "Acme", "--set", f"lines={LONG}"],
                 ["queue", "test_echo", "--brand", "Acme", "--set", f"name{LONG}"]):
        line = one_line_error(invoke(*args))
        assert len(line) < 500, (args[:3], len(line))
        assert "AAAA" in line  # the start of the value is still there to recognise


def test_token_with_spaces_is_refused_and_not_echoed(home):
    line = one_line_error(invoke("token", "set", input="not a token\n"))
    assert "not shown" in line and "not a token" not in line
    assert not (home / "credentials.json").exists()


def test_demo_refuses_the_real_data_dir(home):
    line = one_line_error(invoke("demo", "--home", str(home), "--no-tui"))
    assert "must not be your data dir" in line
