"""Settings: every variable typed and bounded, a bad value one line naming it (issue 10 point 3,
issue 12 point 4), the token a secret, and `pipedeck --help` listing every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipedeck.config import Settings, load_settings, variables, write_credentials
from pipedeck.errors import UserError
from tests.clirunner import invoke, one_line_error
from tests.helpers import REPO

# Every variable of the settings model, with values it must refuse and what the line then says.
BAD_VALUES: dict[str, list[tuple[str, str]]] = {
    "PIPEDECK_HOME": [("{file}/home", "is not writable")],
    "PIPEDECK_DATABASE_URL": [
        ("mysql://db/x", "must be sqlite:///path or postgresql://user:pass@host:port/dbname (the scheme must be"),
        ("sqlite://relative.db", "a SQLite URL is sqlite:///absolute/path"),
        ("postgresql://user:hunter2@/pipedeck", "names its host"),
        ("postgresql://user:hunter2@db.example:5432/", "names its database"),
        ("postgresql://user:hunter2@db.example:99999/x", "is not a valid URL"),
        ("postgresql://user:hunter2@db.example:5432/x\x01", "control characters")],
    "PIPEDECK_QUEUE_URL": [("mysql://db/x", "must be sqlite:///path or postgresql://user:pass@host:port/dbname"),
                           ("sqlite://relative.db", "must be sqlite:///path"),
                           ("redis://user:hunter2@host:6379/0", "Redis is no longer supported"),
                           ("postgresql://user:hunter2@/x", "names its host")],
    "PIPEDECK_MEDIA_DIR": [("{file}/media\x01", "must be a directory path")],
    "PIPEDECK_HOST_ID": [("has space", "must be a name of printable characters without spaces"),
                         ("x" * 101, "at most 100")],
    "PIPEDECK_GRAPH_URL": [("notaurl", "must be an http(s) URL such as https://graph.facebook.com/v25.0, got 'notaurl'"),
                           ("ftp://graph.example/v25.0", "must be an http(s) URL"),
                           ("http://", "must be an http(s) URL"),
                           ("https://graph.example:99999/v25.0", "must be an http(s) URL")],
    "PIPEDECK_AD_LIBRARY_URL": [("notaurl", "must be an http(s) origin"),
                                ("https://www.facebook.com/ads/library/", "(no path)"),
                                ("file:///etc/passwd", "must be an http(s) origin")],
    "PIPEDECK_CHROMIUM": [("/usr/bin/chromium\x01", "must be a browser executable path")],
    "PIPEDECK_PLUGINS": [("not a module", "must be comma-separated module names"),
                         ("pkg..mod", "must be comma-separated module names"),
                         ("1st.module", "must be comma-separated module names")],
    "META_ACCESS_TOKEN": [("has space", "(the value is not shown)"), ("tab\tinside", "(the value is not shown)"),
                          ("tøken", "(the value is not shown)")],
    "PIPEDECK_HEARTBEAT_INTERVAL": [(v, "must be a number of seconds from 0.1 to 60") for v in
                                    ("nan", "-5", "1e309", "abc", "0", "61", "inf", "")],
    "PIPEDECK_STALE_AFTER": [("1", "must be a number of seconds >= 3 x PIPEDECK_HEARTBEAT_INTERVAL (1.5), got '1'")]
    + [(v, "must be a number of seconds >= 3 x PIPEDECK_HEARTBEAT_INTERVAL") for v in
       ("nan", "-5", "1e309", "abc", "0", "86401")],
    "PIPEDECK_BUSY_TIMEOUT": [(v, "must be a number of seconds from 0.01 to 3600") for v in
                              ("nan", "-5", "1e309", "abc", "0", "3601")],
    "PIPEDECK_ALERT_URLS": [(v, "must be comma-separated apprise URLs") for v in ("notaurl", "slack:// x", ",")],
    "PIPEDECK_ALERT_INTERVAL": [(v, "must be a number of seconds from 0.5 to 3600") for v in
                                ("nan", "-5", "1e309", "abc", "0.1", "3601")],
    "PIPEDECK_MEDIA_HOSTS": [(v, "must be comma-separated media origins (scheme://host[:port], or a bare host")
                             for v in ("bad host", "cdn.example/path", "127.0.0.1:8799", "ftp://cdn.example",
                                       "http://cdn.example/path", "http://u:p@cdn.example", "http://cdn:99999")],
}
CASES = [(var, value, expected) for var, cases in BAD_VALUES.items() for value, expected in cases
         if value != ""]  # an empty variable means "the default", as before


def test_the_bad_values_cover_every_variable():
    assert set(BAD_VALUES) == {v.name for v in variables()}


@pytest.mark.parametrize("var,value,expected", CASES, ids=[f"{v}={x!r}"[:50] for v, x, _ in CASES])
def test_a_bad_value_is_one_line_naming_the_variable_before_anything_is_written(home, tmp_path, var, value,
                                                                                expected):
    blocker = tmp_path / "file"
    blocker.write_text("")
    value = value.replace("{file}", str(blocker))
    result = invoke("brands", "add", "Acme", env={var: value})
    line = one_line_error(result)
    assert var in line and expected in line, line
    assert not home.exists()  # refused at start: no data dir, no database
    if var == "META_ACCESS_TOKEN":
        assert value not in line
    assert "hunter2" not in line
    if "hunter2" in value:
        assert "user:***@" in line or "(" in line  # the URL is shown masked, if at all


def test_the_example_of_the_issue_word_for_word(home):
    line = one_line_error(invoke("runs", env={"PIPEDECK_STALE_AFTER": "1", "PIPEDECK_HEARTBEAT_INTERVAL": "0.5"}))
    assert line == ("pipedeck: PIPEDECK_STALE_AFTER must be a number of seconds >= 3 x PIPEDECK_HEARTBEAT_INTERVAL "
                    "(1.5), got '1'")


def test_empty_values_mean_the_default(home):
    settings = load_settings({"PIPEDECK_HOME": str(home), "PIPEDECK_GRAPH_URL": "", "PIPEDECK_STALE_AFTER": "",
                              "PIPEDECK_PLUGINS": "", "META_ACCESS_TOKEN": ""})
    assert settings.graph_url == "https://graph.facebook.com/v25.0" and settings.stale_after == 15.0
    assert settings.plugins == () and settings.meta_access_token is None


def test_good_values_are_typed(tmp_path):
    settings = load_settings({"PIPEDECK_HOME": str(tmp_path / "h"), "PIPEDECK_GRAPH_URL": "http://127.0.0.1:8791/v25.0/",
                              "PIPEDECK_AD_LIBRARY_URL": "http://127.0.0.1:8791", "PIPEDECK_HEARTBEAT_INTERVAL": "0.5",
                              "PIPEDECK_STALE_AFTER": "1.5", "PIPEDECK_BUSY_TIMEOUT": " 2 ",
                              "PIPEDECK_PLUGINS": "tests.jobtypes, bench.jobs",
                              "PIPEDECK_MEDIA_HOSTS": "cdn.example, http://127.0.0.1:8799",
                              "PIPEDECK_QUEUE_URL": "sqlite:///srv/q.db", "PIPEDECK_HOST_ID": " worker-7 "})
    assert settings.graph_url == "http://127.0.0.1:8791/v25.0"  # trailing slash dropped, as before
    assert (settings.heartbeat_interval, settings.stale_after, settings.busy_timeout) == (0.5, 1.5, 2.0)
    assert settings.plugins == ("tests.jobtypes", "bench.jobs")
    assert settings.media_hosts == ("cdn.example", "http://127.0.0.1:8799")
    assert settings.queue_url == "sqlite:///srv/q.db" and settings.queue_is_sqlite and settings.host_id == "worker-7"
    assert settings.db_path == tmp_path / "h" / "pipedeck.db" and settings.media_dir == tmp_path / "h" / "media"
    assert settings.database.engine == "sqlite"
    assert load_settings({"PIPEDECK_HOME": str(tmp_path / "h")}).queue_url == f"sqlite:///{tmp_path / 'h' / 'queue.db'}"


def test_a_postgresql_database_brings_its_own_queue_and_its_password_stays_hidden(tmp_path):
    url = "postgresql://team:s3cret-pw@db.example:5432/pipedeck"
    settings = load_settings({"PIPEDECK_HOME": str(tmp_path / "h"), "PIPEDECK_DATABASE_URL": url,
                              "PIPEDECK_MEDIA_DIR": "/srv/shared/media"})
    assert settings.database.engine == "postgresql" and settings.db_path is None
    assert settings.queue_url == url and not settings.queue_is_sqlite  # PostgresHuey in the same database
    assert settings.media_dir == Path("/srv/shared/media")
    assert settings.database.shown == "postgresql://team:***@db.example:5432/pipedeck"
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.database)):
        assert "s3cret-pw" not in shown
    separate = load_settings({"PIPEDECK_HOME": str(tmp_path / "h"), "PIPEDECK_DATABASE_URL": url,
                              "PIPEDECK_QUEUE_URL": "postgresql://q:pw@queue.example/q"})
    assert separate.queue_url == "postgresql://q:pw@queue.example/q"


def test_with_validates_like_the_environment(tmp_path):
    settings = load_settings({"PIPEDECK_HOME": str(tmp_path)})
    assert settings.with_(chromium="/usr/bin/chromium").chromium == "/usr/bin/chromium"
    assert settings.with_(chromium="/usr/bin/chromium").home == settings.home
    with pytest.raises(UserError, match="PIPEDECK_STALE_AFTER must be"):
        settings.with_(stale_after=1.0)


def test_the_token_is_a_secret_everywhere_it_could_show(tmp_path):
    settings = load_settings({"PIPEDECK_HOME": str(tmp_path), "META_ACCESS_TOKEN": "EAAB-secret-token"})
    assert settings.token() == "EAAB-secret-token" and settings.secrets() == ["EAAB-secret-token"]
    for shown in (repr(settings), str(settings), f"{settings}", settings.model_dump_json(),
                  repr(settings.model_dump()), repr(settings.meta_access_token)):
        assert "EAAB-secret-token" not in shown


def test_the_credentials_file_is_the_fallback_and_written_owner_only(tmp_path):
    home = tmp_path / "h"
    path = write_credentials(home, "tok_from_file")
    assert path.stat().st_mode & 0o777 == 0o600 and home.stat().st_mode & 0o777 == 0o700
    assert load_settings({"PIPEDECK_HOME": str(home)}).token() == "tok_from_file"
    assert load_settings({"PIPEDECK_HOME": str(home), "META_ACCESS_TOKEN": "tok_env"}).token() == "tok_env"
    path.write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_settings({"PIPEDECK_HOME": str(home)})


def test_no_dotenv_file_is_read_behind_the_users_back(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PIPEDECK_STALE_AFTER=1\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings({"PIPEDECK_HOME": str(tmp_path / "h")}).stale_after == 15.0
    assert Settings.model_config.get("env_file") is None


def test_help_lists_every_variable_with_its_default_from_the_model(home):
    text = invoke("--help", env={"COLUMNS": "220"}).stdout
    text = " ".join(text.replace("│", " ").split())
    for var in variables():
        assert var.name in text and var.description in text and f"default: {var.default}" in text, var.name
    assert "default: 15" in text and "default: https://graph.facebook.com/v25.0" in text


def test_readme_configuration_lists_every_variable():
    readme = (REPO / "README.md").read_text()
    section = re.search(r"^## Configuration\n(.*?)^## ", readme, re.S | re.M).group(1)
    missing = [v.name for v in variables() if f"`{v.name}`" not in section]
    assert missing == []
