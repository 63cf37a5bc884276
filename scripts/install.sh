#!/usr/bin/env bash
# Install pipedeck into ./.venv, plus the system packages it needs.
#   scripts/install.sh          the app: Chromium (for Ad Library scrapes) + the package
#   scripts/install.sh --dev    also the test tools: PostgreSQL's server binaries, tmux, curl + the dev extra
# Chromium: Debian/Ubuntu get the distribution's package (and its headless shell where the
# distribution has one); elsewhere install Chromium yourself, run
# `.venv/bin/playwright install chromium`, or set PIPEDECK_CHROMIUM.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install: pipedeck needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

want=()
have_chromium() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
    || command -v google-chrome >/dev/null || [[ -n "${PIPEDECK_CHROMIUM:-}" ]]; }
have_chromium || want+=(chromium)
# Chromium's headless shell (no browser UI) runs the scrapes in ~40 % less memory; Debian ships it.
if command -v apt-cache >/dev/null && ! command -v chromium-headless-shell >/dev/null \
        && [[ -z "${PIPEDECK_CHROMIUM:-}" ]] && apt-cache show chromium-headless-shell >/dev/null 2>&1; then
    want+=(chromium-headless-shell)
fi
if [[ $dev == 1 ]] && ! command -v tmux >/dev/null; then want+=(tmux); fi
if [[ $dev == 1 ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null \
        && [[ -z "${PIPEDECK_TEST_POSTGRES_URL:-}" ]]; then want+=(postgresql); fi
if [[ $dev == 1 ]] && ! command -v curl >/dev/null; then want+=(curl); fi
if (( ${#want[@]} )); then
    if command -v apt-get >/dev/null; then
        sudo=""
        [[ $(id -u) != 0 ]] && sudo="sudo"
        echo "install: apt-get install ${want[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${want[@]}" >/dev/null
    else
        echo "install: please install ${want[*]} with your package manager" >&2
        [[ $dev == 1 ]] && exit 1
    fi
fi

[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [[ $dev == 1 ]]; then
    .venv/bin/python -m pip install -q -e '.[dev]'
else
    .venv/bin/python -m pip install -q -e .
fi
echo "install: done (.venv/bin/pipedeck)"
